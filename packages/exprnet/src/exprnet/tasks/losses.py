"""Masked losses of VA and AU heads (torch), and their R-Drop terms.

Shapes: predictions ``(B, T, C)``, a frame mask ``(B, T)`` bool (True = the frame counts). Every
loss returns an exact 0 tensor, with zero gradient, when no frame counts (a batch without this
task's labels contributes nothing). Values outside the mask (NaN targets included) are never read
into the arithmetic.

- VA: ``(1 - CCC_valence) + (1 - CCC_arousal)`` over the masked frames of the batch pooled
  (the metric's estimator), ``+ mse_weight * MSE``;
- AU: binary cross-entropy with logits, per-AU ``pos_weight`` (:func:`au_pos_weight`: negatives
  over positives on the training frames), mean over annotated (frame, AU) cells;
- R-Drop: VA, the mean squared difference of two dropout passes; AU, the symmetric Bernoulli KL
  ``(KL(p1||p2) + KL(p2||p1)) / 2 = (p1 - p2)(z1 - z2) / 2`` per cell.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import DataError
from .names import N_AU, N_VA

EPS = 1e-8


def _zero(x: torch.Tensor) -> torch.Tensor:
    """An exact 0 that keeps ``x`` in the graph with a zero gradient (NaN/inf in ``x`` cannot leak)."""
    return x.flatten()[:0].sum()


def _f(x: torch.Tensor) -> torch.Tensor:
    """At least float32 (half precision from autocast is upcast; float64 stays)."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


def _check(x: torch.Tensor, mask: torch.Tensor, width: int, what: str) -> None:
    if x.ndim != 3 or x.shape[-1] != width or tuple(mask.shape) != tuple(x.shape[:2]):
        raise DataError(what, f"got predictions {tuple(x.shape)} and mask {tuple(mask.shape)}",
                        f"expected (B, T, {width}) and (B, T)")


def ccc_torch(p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Lin's CCC of two 1-D tensors (population moments)."""
    mp, mt = p.mean(), t.mean()
    dp, dt = p - mp, t - mt
    return 2.0 * (dp * dt).mean() / ((dp * dp).mean() + (dt * dt).mean() + (mp - mt) ** 2 + EPS)


def va_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, mse_weight: float = 0.0) -> torch.Tensor:
    """``sum_d (1 - CCC_d)`` over the masked frames whose target is not NaN (+ ``mse_weight`` * their MSE)."""
    _check(pred, mask, N_VA, "VA loss")
    m = mask.bool() & ~torch.isnan(target).any(-1)
    if not bool(m.any()):
        return _zero(pred)
    p = _f(pred[m])
    t = target[m].to(p.dtype)
    loss = sum(1.0 - ccc_torch(p[:, j], t[:, j]) for j in range(N_VA))
    if mse_weight:
        loss = loss + mse_weight * F.mse_loss(p, t)
    return loss  # type: ignore[return-value]


def au_loss(logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
            pos_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean BCE over annotated cells: the masked frames, and within them AUs whose target is >= 0."""
    _check(logits, mask, N_AU, "AU loss")
    m = mask.bool()[..., None] & (target >= 0)
    if not bool(m.any()):
        return _zero(logits)
    z = _f(logits)
    t = torch.where(m, target.to(z.dtype), torch.zeros_like(z))
    z = torch.where(m, z, torch.zeros_like(z))  # masked cells: a finite dummy, excluded below
    pw = None if pos_weight is None else torch.as_tensor(pos_weight, dtype=z.dtype, device=z.device)
    cell = F.binary_cross_entropy_with_logits(z, t, pos_weight=pw, reduction="none")
    return (cell * m).sum() / m.sum()


def va_rdrop(p1: torch.Tensor, p2: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over masked frames of the squared difference of two passes, summed over valence and arousal."""
    _check(p1, mask, N_VA, "VA R-Drop")
    m = mask.bool()
    if not bool(m.any()):
        return _zero(p1) + _zero(p2)
    return (_f(p1[m]) - _f(p2[m])).pow(2).sum(-1).mean()


def au_rdrop(l1: torch.Tensor, l2: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Symmetric Bernoulli KL of two passes' logits, mean over masked frames and the 12 AUs."""
    _check(l1, mask, N_AU, "AU R-Drop")
    m = mask.bool()
    if not bool(m.any()):
        return _zero(l1) + _zero(l2)
    z1, z2 = _f(l1[m]), _f(l2[m])
    return 0.5 * ((torch.sigmoid(z1) - torch.sigmoid(z2)) * (z1 - z2)).mean()


def au_pos_weight(labels: Sequence[np.ndarray] | np.ndarray, max_weight: float = 50.0) -> np.ndarray:
    """(12,) float32 ``negatives / positives`` per AU over annotated training cells, clipped to
    ``[1 / max_weight, max_weight]``; 1.0 for an AU with no positive or no negative."""
    y = np.concatenate([np.asarray(a).reshape(-1, N_AU) for a in labels]) if isinstance(labels, (list, tuple)) \
        else np.asarray(labels).reshape(-1, N_AU)
    pos = (y == 1).sum(0).astype(np.float64)
    neg = (y == 0).sum(0).astype(np.float64)
    w = np.divide(neg, pos, out=np.ones(N_AU), where=(pos > 0) & (neg > 0))
    return np.clip(w, 1.0 / max_weight, max_weight).astype(np.float32)
