"""``exprnet baseline`` with VA and/or AU labels: one baseline per task in one run folder.

EXPR (when its folder is given) as an EXPR-only baseline writes it (:mod:`.fit`: checkpoints/baseline.npz,
calibration, oof/probs.npz, confusion.png, its metrics keys); VA and AU as :mod:`.tasks` writes them.
metrics.json holds every task's ``val_`` keys, ``tasks`` (the list), ``val_score`` (the mean of the
tasks' primary scores, as a multi-task network's) and per task what was chosen (``task_baselines``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from featurizer.core.annotations import folder_task

from ..config import RunConfig
from ..data.bank import FeatureBank, Standardizer
from ..data.provenance import feature_records
from ..data.tasks import label_dirs
from ..errors import RunError
from ..reports.progress import NullReporter, Reporter
from ..tasks.registry import TASKS
from ..training.runfolder import RunFolder
from .fit import evaluate_baseline, is_baseline, run_baseline, write_baseline_run
from .tasks import baseline_tasks, fit_task, write_task


def fit_tasks(cfg: RunConfig, bank: FeatureBank, tasks: Sequence[str], train: Sequence[str], val: Sequence[str],
              out: str | Path | None = None, reporter: Reporter | None = None) -> dict[str, Any]:
    """Fit each task's baseline on ``train``, score ``val``; with ``out``, write the run folder. Returns metrics."""
    reporter = reporter or NullReporter()
    metrics: dict[str, Any] = {"kind": "baseline", "tasks": list(tasks), "task_baselines": {}}
    if out is not None and (RunFolder(out).in_use() or is_baseline(out) or baseline_tasks(out)):
        raise RunError(str(out), "holds a run already", "choose another --out")
    stats = Standardizer.fit(bank, bank.ids(train))
    if "expr" in tasks:
        efit = evaluate_baseline(cfg, bank, train, val, reporter)
        stats = efit.stats
        if out is not None:
            write_baseline_run(cfg, out, efit, bank, train, val)
        metrics.update(efit.metrics)
        metrics["val_f1"] = efit.metrics["best_val_f1"]
    elif out is not None:
        run = RunFolder(out)
        run.create(cfg, list(train), list(val))
        run.write_features(feature_records(bank, cfg.data.store))
        stats.save(run.stats)
    metrics["kind"], metrics["tasks"] = "baseline", list(tasks)
    for task in tasks:
        if task == "expr":
            continue
        fit = fit_task(task, cfg, bank, stats, train, val, reporter)
        if out is not None:
            write_task(out, fit, bank)
        metrics.update({k: v for k, v in fit.metrics.items() if k.startswith("val_")})
        metrics["task_baselines"][task] = {k: v for k, v in fit.metrics.items() if not k.startswith("val_")}
    metrics["val_score"] = float(np.mean([metrics[f"val_{TASKS[t].primary}"] for t in tasks]))
    metrics["finished"] = True
    if out is not None:
        RunFolder(out).write_metrics(metrics)
    return metrics


def run_baselines(cfg: RunConfig, out: str | Path, reporter: Reporter | None = None) -> dict[str, Any]:
    """``exprnet baseline``: EXPR alone as :func:`.fit.run_baseline`; with VA/AU, one baseline per task."""
    from ..config import BaselineConfig
    from ..training.experiment import load_data

    reporter = reporter or NullReporter()
    cfg = cfg.resolved()
    if cfg.baseline is None:
        cfg.baseline = BaselineConfig()
    if len(label_dirs(cfg.data.labels)) == 1 and folder_task(label_dirs(cfg.data.labels)[0]) == "expr":
        return run_baseline(cfg, out, reporter)
    if RunFolder(out).in_use() or is_baseline(out) or baseline_tasks(out):
        raise RunError(str(out), "holds a run already", "choose another --out")
    prep = load_data(cfg, reporter)
    return fit_tasks(cfg, prep.bank, prep.tasks, prep.split.train, prep.split.val, out, reporter)


def describe_tasks(m: dict[str, Any]) -> str:
    """One line: each task's validation score (and, for VA/AU, what the post-processing chose)."""
    parts = []
    if "val_f1" in m:
        parts.append(f"EXPR F1 {m['val_f1']:.4f}")
    if "val_va" in m:
        w = m["task_baselines"]["va"]["smoothing"]["width"]
        parts.append(f"VA CCC {m['val_va']:.4f} (valence {m['val_ccc_valence']:.4f}, arousal "
                     f"{m['val_ccc_arousal']:.4f}; unsmoothed {m['val_va_raw']:.4f}; half-width {w})")
    if "val_au_f1" in m:
        parts.append(f"AU F1 {m['val_au_f1']:.4f} (at 0.5, unsmoothed {m['val_au_f1_raw']:.4f})")
    return "; ".join(parts)
