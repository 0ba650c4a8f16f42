"""The challenge metric: mean of the 8 per-class F1 scores, frames labelled -1 excluded.

Equal to ``sklearn.metrics.f1_score(y, p, average="macro", labels=range(8), zero_division=0)``
on the labelled frames, computed from one bincount.
"""

from __future__ import annotations

import numpy as np

from ..config import N_CLASSES


def confusion(y: np.ndarray, p: np.ndarray, n_classes: int = N_CLASSES) -> np.ndarray:
    """(C, C) counts, rows = truth, columns = prediction; entries with y < 0 are skipped."""
    y = np.asarray(y).ravel()
    p = np.asarray(p).ravel()
    keep = y >= 0
    idx = y[keep].astype(np.int64) * n_classes + p[keep].astype(np.int64)
    return np.bincount(idx, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def per_class_f1(cm: np.ndarray) -> np.ndarray:
    tp = np.diag(cm).astype(np.float64)
    denom = 2 * tp + (cm.sum(0) - tp) + (cm.sum(1) - tp)
    return np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)


def macro_f1_from_confusion(cm: np.ndarray) -> float:
    return float(per_class_f1(cm).mean())


def macro_f1(y: np.ndarray, p: np.ndarray, n_classes: int = N_CLASSES) -> float:
    return macro_f1_from_confusion(confusion(y, p, n_classes))
