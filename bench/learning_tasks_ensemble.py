"""bench/learning_tasks.py's ensemble rows: each preset's seeds combined by ``exprnet ensemble``'s
default, beside its best member as that member predicts (its own blend and post-processing).

EXPR-only runs (`recommended`): :func:`~exprnet.ensemble.evaluate.run_ensemble` with ``--method oof``
and the default chain (members calibrated, weights and decoder fitted out of fold on training
videos). Runs with VA or AU heads: :func:`~exprnet.ensemble.tasks.run_task_ensemble` (VA weights
and smoothing, AU thresholds, EXPR's chain, fitted on the members' out-of-fold training outputs).
Every member at its last checkpoint (``select="last"``): nothing is chosen on the validation
tracks, which are held out from the members and from the ensemble's fitting alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

PRIMARY = {"va": "val_va", "au": "val_au_f1", "expr": "val_f1"}


def ensemble_scores(store: str, labels: list[str], runs: list[Path], tasks: list[str], out: Path) -> dict[str, float]:
    """Each task's validation score of the runs' default ensemble (last checkpoints)."""
    if tasks == ["expr"]:
        from exprnet.ensemble.evaluate import run_ensemble

        m = run_ensemble(runs, "oof", store, labels[0], out, device="cpu", select="last")
        return {"expr": float(m["val_f1"])}
    from exprnet.ensemble.tasks import run_task_ensemble

    m = run_task_ensemble(runs, store, labels, out, select="last", device="cpu")
    return {t: float(m["per_task"][t][PRIMARY[t]]) for t in tasks}


def ensemble_rows(size: str, store: str, labels: dict[str, list[str]], runs: dict[str, list[Path]],
                  tasks: dict[str, list[str]], shown: list[str], root: Path) -> list[dict[str, Any]]:
    """Rows ``{size, task, method: "<preset> ensemble", scores: [score]}`` for each preset with >= 2 runs."""
    rows = []
    for preset, rs in runs.items():
        if len(rs) < 2:
            continue
        got = ensemble_scores(store, labels[preset], rs, tasks[preset], root / f"ens-{size}-{preset}")
        print(f"  {preset}: ensemble of {len(rs)} seeds: " + ", ".join(f"{t.upper()} {v:.4f}" for t, v in got.items()),
              flush=True)
        rows += [{"size": size, "task": t, "method": f"{preset} ensemble", "scores": [v]}
                 for t, v in got.items() if t in shown]
    return rows
