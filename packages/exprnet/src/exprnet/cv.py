"""Cross-validation (the paper's Table 2): folds by source video plus the official validation set.

Features are loaded once for all folds; each fold is an ordinary run folder (``OUT/fold<k>``) with
its own statistics (its training tracks only). Re-running the command skips finished folds and
resumes a fold that was killed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .config import RunConfig
from .data.splits import Fold, Split, make_folds
from .experiment import Prepared, execute, load_data
from .io import atomic_write_csv, atomic_write_json
from .progress import NullReporter, Reporter


@dataclass
class CVResult:
    rows: list[dict[str, Any]]
    mean_f1: float
    std_f1: float
    out: Path


def folds_of(prep: Prepared, n_folds: int) -> list[Fold]:
    """Folds of Train_Set by source video (balanced by labelled frames) plus Validation_Set."""
    bank = prep.bank
    return make_folds({t: bank.labelled([bank.index(t)]) for t in prep.split.train}, prep.split.val, n_folds)


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
    bank = prep.bank
    folds = folds_of(prep, n_folds)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "folds.json", [{"fold": f.index, "train": f.train, "val": f.val} for f in folds])
    rows = []
    for fold in folds:
        if only and fold.index not in only:
            continue
        if not (out / fold.name / "metrics.json").exists():
            reporter.message(f"[bold]{fold.name}[/]: train {len(fold.train)} tracks, validate on "
                             f"{len(fold.val)}")
        m = execute(fold_config(cfg, fold), out / fold.name, reporter, existing="skip", prepared=prep,
                    split=Split(fold.train, fold.val)).metrics
        rows.append({"fold": fold.index, "val_set": "Validation_Set" if fold.index == n_folds else "Train_Set part",
                     "train_tracks": len(fold.train), "val_tracks": len(fold.val),
                     "val_frames": bank.labelled(bank.ids(fold.val)),
                     "best_val_f1": float(m["best_val_f1"]), "best_epoch": int(m["best_epoch"])})
    f1s = np.array([r["best_val_f1"] for r in rows]) if rows else np.zeros(1)
    result = CVResult(rows, float(f1s.mean()), float(f1s.std()), out)
    atomic_write_json(out / "cv.json", {"folds": rows, "mean_f1": result.mean_f1, "std_f1": result.std_f1})
    atomic_write_csv(out / "cv.csv", rows)
    return result
