"""Cross-validation (the paper's Table 2): folds by source video plus the official validation set.

Features are loaded once for all folds; each fold is an ordinary run folder (``OUT/fold<k>``) with
its own statistics (its training tracks only). Re-running the command skips finished folds and
resumes a fold that was killed. Besides the folds' mean F1 (the paper's number), the pooled F1
scores every track once, each by the fold that held it out (the folds' confusions summed): on
small data it moves less with which subjects one fold happens to hold.

With VA and/or AU labels (multi-task or a single VA/AU task) each fold is scored on every task's
primary metric (``val_f1``, ``val_va``, ``val_au_f1``, at the fold's best epoch by ``val_score``,
their mean); the table gets one column per task, and ``task_means`` their mean and std over folds.
Folds are balanced by frames with a label of any task. (The pooled score is EXPR's.)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from featurizer.core.files import atomic_write_csv, atomic_write_json

from ..config import N_CLASSES, RunConfig
from ..data.splits import Fold, Split, make_folds
from ..reports.metrics import macro_f1_from_confusion
from ..reports.progress import NullReporter, Reporter
from .experiment import Prepared, execute, load_data


@dataclass
class CVResult:
    rows: list[dict[str, Any]]
    mean_f1: float  # EXPR alone: of best_val_f1; with VA/AU: of val_score (the mean of the tasks' primaries)
    std_f1: float
    out: Path
    pooled_f1: float | None = None  # every track once, by the fold that held it out (all folds run)
    tasks: tuple[str, ...] = ("expr",)
    task_means: dict[str, tuple[float, float]] | None = None  # "val_va" -> (mean, std) over folds


def folds_of(prep: Prepared, n_folds: int) -> list[Fold]:
    """Folds of Train_Set by source video (balanced by labelled frames) plus Validation_Set."""
    bank = prep.bank
    if prep.tasks == ["expr"]:
        return make_folds({t: bank.labelled([bank.index(t)]) for t in prep.split.train}, prep.split.val, n_folds)
    return make_folds({t: int(bank.any_label(bank.rows(bank.index(t))).sum()) for t in prep.split.train},
                      prep.split.val, n_folds)


def task_keys(tasks: list[str]) -> list[str]:
    """metrics.json's primary key of each task (``val_f1``, ``val_va``, ``val_au_f1``)."""
    from ..tasks.registry import TASKS

    return [f"val_{TASKS[t].primary}" for t in tasks]


def fold_config(cfg: RunConfig, fold: Fold) -> RunConfig:
    c = cfg.model_copy(deep=True)
    c.name = f"{cfg.name}-{fold.name}"
    c.data.train_tracks, c.data.val_tracks = list(fold.train), list(fold.val)
    return c


def run_cv(cfg: RunConfig, out: str | Path, n_folds: int = 5, reporter: Reporter | None = None,
           only: list[int] | None = None) -> CVResult:
    reporter = reporter or NullReporter()
    cfg = cfg.resolved()
    out = Path(out)
    prep = load_data(cfg, reporter)
    tasks = prep.tasks
    multi = tasks != ["expr"]
    bank = prep.bank
    folds = folds_of(prep, n_folds)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "folds.json", [{"fold": f.index, "train": f.train, "val": f.val} for f in folds])
    rows = []
    pooled = np.zeros((N_CLASSES, N_CLASSES), np.int64)
    for fold in folds:
        if only and fold.index not in only:
            continue
        if not (out / fold.name / "metrics.json").exists():
            reporter.message(f"[bold]{fold.name}[/]: train {len(fold.train)} tracks, validate on "
                             f"{len(fold.val)}")
        m = execute(fold_config(cfg, fold), out / fold.name, reporter, existing="skip", prepared=prep,
                    split=Split(fold.train, fold.val)).metrics
        if m.get("val_confusion"):  # EXPR's (empty without EXPR)
            pooled += np.asarray(m["val_confusion"], np.int64)
        row = {"fold": fold.index, "val_set": "Validation_Set" if fold.index == n_folds else "Train_Set part",
               "train_tracks": len(fold.train), "val_tracks": len(fold.val),
               "val_frames": sum(int(bank.any_label(bank.rows(i)).sum()) for i in bank.ids(fold.val))
               if multi else bank.labelled(bank.ids(fold.val)),
               "best_val_f1": None if m.get("best_val_f1") is None else float(m["best_val_f1"]),
               "best_epoch": int(m["best_epoch"])}
        if multi:
            row.update({k: float(m[k]) for k in task_keys(tasks)})
            row["val_score"] = float(np.mean([m[k] for k in task_keys(tasks)]))
        rows.append(row)
    key = "val_score" if multi else "best_val_f1"
    f1s = np.array([r[key] for r in rows]) if rows else np.zeros(1)
    every = len(rows) == len(folds)
    means = {k: (float(np.mean([r[k] for r in rows])), float(np.std([r[k] for r in rows])))
             for k in task_keys(tasks)} if multi and rows else None
    result = CVResult(rows, float(f1s.mean()), float(f1s.std()), out,
                      macro_f1_from_confusion(pooled) if every and "expr" in tasks else None, tuple(tasks), means)
    atomic_write_json(out / "cv.json", {"folds": rows, "mean_f1": result.mean_f1, "std_f1": result.std_f1,
                                        "pooled_f1": result.pooled_f1, "tasks": list(tasks),
                                        "task_means": means, "mean_score_key": key,
                                        "pooled_confusion": pooled.tolist() if every and "expr" in tasks else None})
    atomic_write_csv(out / "cv.csv", rows)
    return result
