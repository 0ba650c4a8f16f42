"""The training loss: R-Drop over a (class-weighted, focal, logit-adjusted, smoothed) cross-entropy.

    loss = 0.5 * (CE1 + CE2) + alpha * 0.5 * (KL(p1 || p2) + KL(p2 || p1))

Both terms are per labelled frame: KL is summed over the classes, then averaged over the labelled
frames, like CE. With class weights, CE is the weighted mean ``sum(w_y * ce) / sum(w_y)``, as in
torch. Frames labelled -1 (and padding) carry no loss. Softmax is taken in float32.

For class imbalance (and overconfidence), each composing with R-Drop and with the others:

- class weights ``w_c``: ``balanced`` = N / (C * n_c) (sklearn's rule), ``sqrt`` = its square
  root, or eight numbers;
- logit adjustment (Menon et al., 2021): CE is taken on ``logits + tau * log(prior)``, so the
  model's own logits learn the balanced posterior; predictions use the plain logits;
- focal loss (Lin et al., 2017): each frame's CE times ``(1 - p_y) ** gamma``;
- label smoothing (Szegedy et al., 2016): each frame's target puts ``1 - eps`` on its class and
  ``eps / C`` on every class, ``(1 - eps) * ce + eps * mean_c(-log p_c)`` (torch's rule); with class
  weights, each frame's smoothed CE is weighted by its own class's weight.

KL compares the two passes' plain (unadjusted) distributions: the ones used to predict.
``crf: lam`` adds ``lam`` times a segment-level loss, each pass's linear-chain CRF NLL
(:mod:`.crf`), averaged over the two passes like CE.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..config import N_CLASSES, LossConfig, RunConfig
from ..postprocess.priors import trained_prior
from .crf import ChainNLL


@dataclass
class LossParts:
    loss: torch.Tensor  # scalar, differentiable
    ce: float
    kl: float
    frames: int  # labelled frames the loss is averaged over
    crf: float = 0.0  # the segment-level term (before its weight), where ``loss.crf`` is on


def class_counts(labels: Sequence[np.ndarray]) -> np.ndarray:
    """Labelled frames per class (-1 skipped)."""
    y = np.concatenate([np.asarray(a).ravel() for a in labels]) if len(labels) else np.zeros(0, int)
    return np.bincount(y[y >= 0].astype(np.int64), minlength=N_CLASSES)[:N_CLASSES].astype(np.float64)


def class_weight_vector(counts: np.ndarray, spec: str | Sequence[float]) -> np.ndarray | None:
    """Per-class CE weights for ``loss.class_weights`` (None: unweighted). A class with no
    training frame gets weight 0 (it cannot be learned from this split)."""
    if isinstance(spec, str):
        if spec == "none":
            return None
        counts = np.asarray(counts, np.float64)
        balanced = np.divide(counts.sum(), N_CLASSES * counts, out=np.zeros(N_CLASSES), where=counts > 0)
        if spec == "balanced":
            return balanced
        if spec == "sqrt":
            return np.sqrt(balanced)
        raise ValueError(f"unknown class_weights {spec!r}")
    return np.asarray(spec, np.float64)


def log_priors(counts: np.ndarray) -> np.ndarray:
    """log of the class shares; a class with no frame counts as one frame (a finite offset)."""
    c = np.maximum(np.asarray(counts, np.float64), 1.0)
    return np.log(c / c.sum())


def _ce(logits: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None, gamma: float,
        offset: torch.Tensor | None, smoothing: float = 0.0) -> torch.Tensor:
    logp = F.log_softmax(logits if offset is None else logits + offset, dim=-1)
    lp_y = logp.gather(-1, y[:, None])[:, 0]
    loss = -lp_y if smoothing == 0 else -(1.0 - smoothing) * lp_y - smoothing * logp.mean(-1)
    if gamma > 0:
        loss = loss * (1.0 - lp_y.exp()).clamp(min=0.0) ** gamma
    if weight is None:
        return loss.mean()
    w = weight[y]
    return (w * loss).sum() / w.sum().clamp(min=1e-12)


def rdrop_loss(logits1: torch.Tensor, logits2: torch.Tensor | None, target: torch.Tensor,
               alpha: float = 5.0, class_weights: torch.Tensor | None = None, focal_gamma: float = 0.0,
               logit_offset: torch.Tensor | None = None, label_smoothing: float = 0.0) -> LossParts:
    """``logits*``: (..., C); ``target``: (...) with -1 = no loss. ``logits2=None``: plain CE.
    ``logit_offset``: (C,) added to the logits inside CE only (logit adjustment)."""
    valid = target >= 0
    n = int(valid.sum())
    if n == 0:
        zero = logits1.sum() * 0.0
        return LossParts(zero, 0.0, 0.0, 0)
    y = target[valid]
    z1 = logits1[valid].float()
    w = class_weights.float() if class_weights is not None else None
    off = logit_offset.float() if logit_offset is not None else None

    def ce_of(z: torch.Tensor) -> torch.Tensor:
        return _ce(z, y, w, focal_gamma, off, label_smoothing)

    if logits2 is None:
        ce = ce_of(z1)
        return LossParts(ce, float(ce.detach()), 0.0, n)
    z2 = logits2[valid].float()
    ce = 0.5 * (ce_of(z1) + ce_of(z2))
    lp1, lp2 = F.log_softmax(z1, dim=-1), F.log_softmax(z2, dim=-1)
    kl12 = (lp1.exp() * (lp1 - lp2)).sum(-1).mean()
    kl21 = (lp2.exp() * (lp2 - lp1)).sum(-1).mean()
    kl = 0.5 * (kl12 + kl21)
    return LossParts(ce + alpha * kl, float(ce.detach()), float(kl.detach()), n)


class Criterion:
    """``loss:`` of a run config, fixed with the training split's class counts (and, for ``crf``,
    the chain of its labels: ``chain``)."""

    def __init__(self, cfg: LossConfig, counts: np.ndarray, device: torch.device | str = "cpu",
                 chain: ChainNLL | None = None):
        self.cfg, self.chain = cfg, chain
        if cfg.crf > 0 and chain is None:
            raise ValueError("loss.crf needs the training labels' chain (ChainNLL)")
        w = class_weight_vector(counts, cfg.class_weights)
        self.weights = None if w is None else torch.tensor(w, dtype=torch.float32, device=device)
        self.offset = (torch.tensor(cfg.logit_adjust * log_priors(counts), dtype=torch.float32, device=device)
                       if cfg.logit_adjust > 0 else None)

    def __call__(self, logits1: torch.Tensor, logits2: torch.Tensor | None, target: torch.Tensor,
                 mask: torch.Tensor | None = None) -> LossParts:
        logits2 = logits2 if self.cfg.rdrop else None
        parts = rdrop_loss(logits1, logits2, target, self.cfg.alpha if self.cfg.rdrop else 0.0, self.weights,
                           self.cfg.focal_gamma, self.offset, self.cfg.label_smoothing)
        if self.cfg.crf == 0 or self.chain is None or parts.frames == 0:
            return parts
        mask = torch.ones_like(target, dtype=torch.bool) if mask is None else mask
        passes = [z for z in (logits1, logits2) if z is not None]  # one call: the mean over the passes
        k = len(passes)
        nll = self.chain(torch.cat(passes), target.repeat(k, 1), mask.repeat(k, 1))
        return LossParts(parts.loss + self.cfg.crf * nll, parts.ce, parts.kl, parts.frames, float(nll.detach()))


def make_criterion(cfg: RunConfig, counts: np.ndarray, labels: Sequence[np.ndarray],
                   device: torch.device | str = "cpu") -> Criterion:
    """The run's criterion: its ``loss:`` with the training frames' class ``counts`` and, for
    ``crf``, the chain of the training tracks' ``labels`` and the prior the model is trained towards."""
    chain = ChainNLL(labels, trained_prior(cfg, counts), device) if cfg.loss.crf else None
    return Criterion(cfg.loss, counts, device, chain)
