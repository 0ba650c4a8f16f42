"""Cross-validation (the paper's Table 2): folds by source video plus the official validation set.

Features are loaded once for all folds; each fold is an ordinary run folder (``OUT/fold<k>``) with
its own statistics (its training tracks only). Re-running the command skips finished folds and
resumes a fold that was killed. Besides the folds' mean F1 (the paper's number), the pooled F1
scores every track once, each by the fold that held it out (the folds' confusions summed): on
small data it moves less with which subjects one fold happens to hold.

A multi-task run's folds (several ``--labels``) are balanced by the frames any task labels; each
fold's ``best_val_f1`` is then its best mean of the tasks' primary scores (``best_val_score``), with
each task's score beside it, and the pooled F1 is EXPR's (where EXPR is a task).
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
    mean_f1: float
    std_f1: float
    out: Path
    pooled_f1: float | None = None  # every track once, by the fold that held it out (all folds run)


def labelled_frames(prep: Prepared, ids: list[int]) -> int:
    """Labelled frames of tracks ``ids``: EXPR's, or (multi-task) those any task labels."""
    bank = prep.bank
    if prep.tasks == ["expr"]:
        return bank.labelled(ids)
    return int(sum(np.count_nonzero(bank.any_label(bank.rows(i))) for i in ids))


def folds_of(prep: Prepared, n_folds: int) -> list[Fold]:
    """Folds of Train_Set by source video (balanced by labelled frames) plus Validation_Set."""
    bank = prep.bank
    return make_folds({t: labelled_frames(prep, [bank.index(t)]) for t in prep.split.train}, prep.split.val, n_folds)


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
    multi = prep.tasks != ["expr"]
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
        if m["val_confusion"]:
            pooled += np.asarray(m["val_confusion"], np.int64)
        row = {"fold": fold.index, "val_set": "Validation_Set" if fold.index == n_folds else "Train_Set part",
               "train_tracks": len(fold.train), "val_tracks": len(fold.val),
               "val_frames": labelled_frames(prep, bank.ids(fold.val)),
               "best_val_f1": float(m["best_val_score"] if multi else m["best_val_f1"]), "best_epoch": int(m["best_epoch"])}
        if multi:  # best_val_f1: the mean of the tasks' primary scores; each task's beside it
            row.update({k: m[k] for k in ("val_f1", "val_va", "val_au_f1") if m.get(k) is not None})
        rows.append(row)
    f1s = np.array([r["best_val_f1"] for r in rows]) if rows else np.zeros(1)
    every = len(rows) == len(folds) and "expr" in prep.tasks
    result = CVResult(rows, float(f1s.mean()), float(f1s.std()), out,
                      macro_f1_from_confusion(pooled) if every else None)
    atomic_write_json(out / "cv.json", {"folds": rows, "mean_f1": result.mean_f1, "std_f1": result.std_f1,
                                        "pooled_f1": result.pooled_f1,
                                        "pooled_confusion": pooled.tolist() if every else None})
    atomic_write_csv(out / "cv.csv", rows)
    return result
