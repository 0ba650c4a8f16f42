"""The challenge metrics of VA and AU on frame arrays (the caller concatenates tracks).

- VA: the concordance correlation coefficient of valence and of arousal, each over all annotated
  frames pooled (never a mean of per-track CCCs), and their mean ``va``;
- AU: the binary F1 of each of the 12 AUs over its annotated frames, and their mean ``au_f1``
  (an AU with no positive truth and no positive prediction scores 0, as sklearn's
  ``zero_division=0``).
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError
from .names import AU_NAMES, N_AU, N_VA, VA_NAMES


def ccc(x: np.ndarray, y: np.ndarray) -> float:
    """Lin's CCC ``2 cov(x, y) / (var x + var y + (mean x - mean y)^2)`` (population moments, float64);
    0.0 on no frame or a zero denominator (both constant and equal)."""
    x = np.asarray(x, np.float64).ravel()
    y = np.asarray(y, np.float64).ravel()
    if len(x) != len(y):
        raise DataError("ccc", f"got {len(x)} predictions for {len(y)} targets", "give one prediction per frame")
    if len(x) == 0:
        return 0.0
    mx, my = x.mean(), y.mean()
    dx, dy = x - mx, y - my
    den = np.mean(dx * dx) + np.mean(dy * dy) + (mx - my) ** 2
    return float(2.0 * np.mean(dx * dy) / den) if den > 0 else 0.0


def _check(pred: np.ndarray, true: np.ndarray, width: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    pred, true = np.asarray(pred), np.asarray(true)
    if true.ndim != 2 or true.shape[1] != width or pred.shape != true.shape:
        raise DataError(what, f"predictions {pred.shape} and labels {true.shape} are not both (n, {width})",
                        "give one row per frame, frames of all tracks concatenated")
    return pred, true


def va_mask(true: np.ndarray) -> np.ndarray:
    """(n,) True where a VA row is annotated (no NaN)."""
    return ~np.isnan(np.asarray(true, np.float64)).any(axis=1)


def va_scores(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """``{"va", "ccc_valence", "ccc_arousal"}`` over the annotated rows of ``true`` (NaN rows skipped)."""
    pred, true = _check(pred, true, N_VA, "VA scores")
    keep = va_mask(true)
    p = pred[keep].astype(np.float64)
    if not np.isfinite(p).all():
        raise DataError("VA predictions", "hold NaN or inf on annotated frames", "predict every frame")
    c = [ccc(p[:, j], true[keep, j]) for j in range(N_VA)]
    return {"va": float(np.mean(c)), **{f"ccc_{n}": v for n, v in zip(VA_NAMES, c, strict=True)}}


def au_f1(pred01: np.ndarray, true: np.ndarray) -> np.ndarray:
    """(12,) binary F1 per AU over the frames where that AU is annotated (>= 0)."""
    pred01, true = _check(pred01, true, N_AU, "AU scores")
    keep = true >= 0
    p = pred01 > 0
    bad = keep & ~np.isin(pred01, (0, 1))
    if bad.any():
        raise DataError("AU predictions", f"hold {pred01[bad][0]!r}, not 0/1", "threshold the probabilities first")
    t = true > 0
    tp = (keep & p & t).sum(0).astype(np.float64)
    fp = (keep & p & ~t).sum(0)
    fn = (keep & ~p & t).sum(0)
    den = 2 * tp + fp + fn
    return np.divide(2 * tp, den, out=np.zeros(N_AU), where=den > 0)


def au_scores(pred01: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """``{"au_f1", "f1_AU1", ..., "f1_AU26"}`` on frames annotated (-1 rows skipped)."""
    f = au_f1(pred01, true)
    return {"au_f1": float(f.mean()), **{f"f1_{n}": float(v) for n, v in zip(AU_NAMES, f, strict=True)}}

