"""R-Drop: two forward passes in train mode (different dropout masks) and a symmetric KL term.

    loss = 0.5 * (CE1 + CE2) + alpha * 0.5 * (KL(p1 || p2) + KL(p2 || p1))

Both terms are per labelled frame: KL is summed over the classes, then averaged over the labelled
frames, like CE (with class weights, CE is the weighted mean sum(w_y * ce) / sum(w_y), as in
torch). Frames labelled -1 (and padding) carry no loss. Softmax is taken in float32.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class LossParts:
    loss: torch.Tensor  # scalar, differentiable
    ce: float
    kl: float
    frames: int  # labelled frames the loss is averaged over


def _ce(logp: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    return F.nll_loss(logp, y, weight=weight, reduction="mean")


def rdrop_loss(logits1: torch.Tensor, logits2: torch.Tensor | None, target: torch.Tensor,
               alpha: float = 5.0, class_weights: torch.Tensor | None = None) -> LossParts:
    """``logits*``: (..., C); ``target``: (...) with -1 = no loss. ``logits2=None``: plain CE."""
    valid = target >= 0
    n = int(valid.sum())
    if n == 0:
        zero = logits1.sum() * 0.0
        return LossParts(zero, 0.0, 0.0, 0)
    y = target[valid]
    lp1 = F.log_softmax(logits1[valid].float(), dim=-1)
    w = class_weights.float() if class_weights is not None else None
    if logits2 is None:
        ce = _ce(lp1, y, w)
        return LossParts(ce, float(ce.detach()), 0.0, n)
    lp2 = F.log_softmax(logits2[valid].float(), dim=-1)
    ce = 0.5 * (_ce(lp1, y, w) + _ce(lp2, y, w))
    kl12 = (lp1.exp() * (lp1 - lp2)).sum(-1).mean()
    kl21 = (lp2.exp() * (lp2 - lp1)).sum(-1).mean()
    kl = 0.5 * (kl12 + kl21)
    return LossParts(ce + alpha * kl, float(ce.detach()), float(kl.detach()), n)
