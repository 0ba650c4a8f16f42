"""``TASKS``: what differs between expr, va and au, for code that loops over the tasks.

A :class:`Task` names its output columns, the metrics key it is ranked by (``primary``), how to
score frame arrays (the caller concatenates tracks) and which label rows are annotated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..config import CLASSES, N_CLASSES
from ..errors import DataError
from ..reports.metrics import confusion, per_class_f1
from .metrics import au_scores, va_mask, va_scores
from .names import AU_NAMES, VA_NAMES


def expr_scores(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """``{"f1", "f1_Neutral", ...}``: EXPR's mean of the 8 per-class F1 on frames labelled >= 0."""
    pred, true = np.asarray(pred).ravel(), np.asarray(true).ravel()
    if pred.shape != true.shape:
        raise DataError("EXPR scores", f"got {len(pred)} predictions for {len(true)} labels",
                        "give one label per frame, frames of all tracks concatenated")
    pc = per_class_f1(confusion(true, pred, N_CLASSES))
    return {"f1": float(pc.mean()), **{f"f1_{c}": float(v) for c, v in zip(CLASSES, pc, strict=True)}}


@dataclass(frozen=True)
class Task:
    """``name``: expr | va | au; ``outputs``: the head's columns; ``primary``: the metrics key it is
    ranked by (``val_`` + it in metrics.json); ``kind``: classes | regression | binary."""

    name: str
    outputs: tuple[str, ...]
    primary: str
    kind: str
    scorer: Callable[[np.ndarray, np.ndarray], dict[str, float]]
    annotated_rows: Callable[[np.ndarray], np.ndarray]

    @property
    def n_outputs(self) -> int:
        return len(self.outputs)

    def score(self, pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
        """The task's metrics on frame arrays: expr labels, va values, au 0/1."""
        return self.scorer(pred, true)

    def val_scores(self, pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
        """:meth:`score` with metrics.json's ``val_`` keys (``val_va``, ``val_f1_AU1``, ``val_f1``, ...)."""
        return {f"val_{k}": v for k, v in self.score(pred, true).items()}

    def annotated(self, true: np.ndarray) -> np.ndarray:
        """(n,) True where a label row counts (expr >= 0, va no NaN, au any cell >= 0)."""
        return self.annotated_rows(np.asarray(true))


TASKS: dict[str, Task] = {
    "expr": Task("expr", tuple(CLASSES), "f1", "classes", expr_scores, lambda y: y.reshape(len(y), -1)[:, 0] >= 0),
    "va": Task("va", tuple(VA_NAMES), "va", "regression", va_scores, va_mask),
    "au": Task("au", tuple(AU_NAMES), "au_f1", "binary", au_scores, lambda y: (y >= 0).any(axis=1)),
}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise DataError(f"task {name!r}", "is not a task", f"choose from {', '.join(TASKS)}")
    return TASKS[name]
