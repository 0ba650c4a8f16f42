"""bench/learning_tasks.py's targets, for one corpus draw or pooled over several (``--pool``).

A target is ``(what, score, reference, tolerance)``, met when ``score - reference >= tolerance``:

- ``<preset> ensemble`` (the seeds combined by ``exprnet ensemble``'s default) >= its best member
  (the best seed's ``+ post (oof)`` row, as that run predicts) - 0.005;
- ``recommended-va`` / ``recommended-au`` (each row: raw, ``+ post``) >= the task's baseline;
- ``recommended-all`` within 0.02 of the single-task preset on every task (row for row).

Pooled over draws (other subjects, tracks and validation split of one corpus size: ``--corpus-seed``),
each target's difference is averaged over the draws, each draw's being its mean over seeds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

NAMES = {"va": "VA CCC", "au": "AU F1", "expr": "EXPR F1"}
SINGLE = {"va": "recommended-va", "au": "recommended-au", "expr": "recommended"}
OOF = "+ post (oof)"  # the run as it predicts: its post-processing fitted out of fold
Target = tuple[str, float, float, float]


def targets(rows: list[dict[str, Any]]) -> list[Target]:
    """The targets of one draw's rows (``{size, task, method, scores}``; scores per seed)."""
    by = {(r["size"], r["task"], r["method"]): r["scores"] for r in rows}
    mean = {k: float(np.mean(v)) for k, v in by.items()}
    out: list[Target] = []
    for (size, task, method), v in by.items():
        if method.endswith(" ensemble") and (size, task, f"{method[:-len(' ensemble')]} {OOF}") in by:
            best = max(by[(size, task, f"{method[:-len(' ensemble')]} {OOF}")])
            out.append((f"[{size}] {task.upper()} {method} vs its best member", v[0], best, -0.005))
    for (size, task, method), v in mean.items():
        single = method.replace("recommended-all", SINGLE[task])
        if method.startswith(SINGLE[task]) and task in ("va", "au"):
            out.append((f"[{size}] {method} vs {task.upper()} baseline", v, mean[(size, task, f"{task.upper()} baseline")],
                        0.0))
        if method.startswith("recommended-all") and not method.endswith("ensemble") and (size, task, single) in mean:
            out.append((f"[{size}] {NAMES[task]}: {method} vs {single}", v, mean[(size, task, single)], -0.02))
    return out


def verdict(delta: float, tol: float) -> str:
    return f"{'met' if delta >= tol - 1e-12 else 'MISSED'} ({delta:+.4f}, target >= {tol:+.3f})"


def print_targets(rows: list[dict[str, Any]]) -> None:
    print("\nTargets (means over seeds):")
    for what, v, ref, tol in targets(rows):
        print(f"  {what}: {v:.4f} vs {ref:.4f}: {verdict(v - ref, tol)}")


def pool(files: list[Path]) -> None:
    """Each target's difference per draw (the rows files of ``--rows-json``) and its mean over draws."""
    per: dict[str, list[float]] = {}
    tols: dict[str, float] = {}
    for f in files:
        for what, v, ref, tol in targets(json.loads(f.read_text())):
            per.setdefault(what, []).append(v - ref)
            tols[what] = tol
    print(f"\nTargets pooled over {len(files)} corpus draws (each draw: its mean over seeds):")
    for what, ds in per.items():
        note = "" if len(ds) == len(files) else f" (in {len(ds)} of {len(files)} draws)"
        print(f"  {what}: per draw {', '.join(f'{d:+.4f}' for d in ds)}{note}; mean {verdict(float(np.mean(ds)), tols[what])}")
