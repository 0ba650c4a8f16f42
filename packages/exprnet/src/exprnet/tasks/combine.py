"""Ensembles of VA and AU members.

- VA: a weighted mean of the members' predictions, one weight vector per dimension (valence,
  arousal), on the simplex; :func:`fit_va_weights` picks it by pooled CCC on the members'
  out-of-fold training predictions (grid of step ``1 / resolution``; ties: nearest equal weights);
- AU: the members' mean probability, then per-AU thresholds and smoothing
  (:func:`exprnet.tasks.post.fit_au_post`) fitted on the members' mean out-of-fold probabilities.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from ..errors import DataError
from .metrics import ccc, va_mask
from .names import N_VA
from .post import AUPost, fit_au_post

MAX_GRID = 5000


def _members(members: Sequence[Sequence[np.ndarray]], what: str) -> None:
    if not len(members):
        raise DataError(what, "has no member", "give one list of per-track predictions per member")
    shapes = [[np.shape(a) for a in m] for m in members]
    if any(s != shapes[0] for s in shapes):
        raise DataError(what, "members predict tracks of different lengths or counts",
                        "give every member's predictions on the same tracks, in the same order")


def simplex(m: int, resolution: int = 10) -> np.ndarray:
    """(G, m) weight vectors with entries in multiples of 1/r summing to 1; r is lowered from
    ``resolution`` until there are at most MAX_GRID of them (always at least the vertices)."""
    r = resolution
    while r > 1 and _count(m, r) > MAX_GRID:
        r -= 1
    return np.array(list(_compositions(m, r)), np.float64) / r


def _compositions(m: int, r: int) -> Iterator[tuple[int, ...]]:
    """Every m-tuple of non-negative integers summing to r."""
    if m == 1:
        yield (r,)
        return
    for i in range(r + 1):
        for rest in _compositions(m - 1, r - i):
            yield (i, *rest)


def _count(m: int, r: int) -> int:
    from math import comb

    return comb(r + m - 1, m - 1)


def fit_va_weights(members: Sequence[Sequence[np.ndarray]], trues: Sequence[np.ndarray],
                   resolution: int = 10) -> np.ndarray:
    """(M, 2) weights, per dimension the simplex point with the best pooled CCC of the weighted
    mean of ``members`` (each: per-track (n, 2) out-of-fold training predictions) against ``trues``."""
    _members(members, "VA ensemble")
    y = np.concatenate(trues)
    keep = va_mask(y)
    p = np.stack([np.concatenate(m)[keep] for m in members]).astype(np.float64)  # (M, n, 2)
    if p.shape[1] != keep.sum():
        raise DataError("VA ensemble", "members and labels cover different frames")
    grid = simplex(len(members), resolution)
    equal = np.full(len(members), 1.0 / len(members))
    out = np.zeros((len(members), N_VA))
    for d in range(N_VA):
        scores = np.array([ccc(w @ p[:, :, d], y[keep, d]) for w in grid])
        best = scores.max()
        tied = np.flatnonzero(scores >= best - 1e-12)
        out[:, d] = grid[tied[np.argmin(np.abs(grid[tied] - equal).sum(1))]]
    return out


def combine_va(preds: Sequence[np.ndarray], weights: np.ndarray | None = None) -> np.ndarray:
    """One track's (n, 2) weighted mean of the members' (n, 2) predictions (equal weights by default)."""
    p = np.stack([np.asarray(a, np.float64) for a in preds])
    w = np.full((len(p), N_VA), 1.0 / len(p)) if weights is None else np.asarray(weights, np.float64)
    if w.shape != (len(p), N_VA):
        raise DataError("VA ensemble weights", f"have shape {w.shape}, expected ({len(p)}, {N_VA})")
    return (p * w[:, None, :]).sum(0).astype(np.float32)


def mean_probs(probs: Sequence[np.ndarray]) -> np.ndarray:
    """One track's mean of the members' (n, 12) AU probabilities."""
    return np.mean(np.stack([np.asarray(a, np.float32) for a in probs]), axis=0)


def fit_au_ensemble(members: Sequence[Sequence[np.ndarray]], trues: Sequence[np.ndarray], kind: str = "box") -> AUPost:
    """Thresholds and smoothing of the members' mean probability, fitted on their out-of-fold
    training probabilities (per member, per track)."""
    _members(members, "AU ensemble")
    return fit_au_post([mean_probs(ps) for ps in zip(*members, strict=True)], trues, kind)
