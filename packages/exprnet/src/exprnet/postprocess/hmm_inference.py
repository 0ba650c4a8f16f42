"""Exact Viterbi paths and forward-backward marginals of an HMM with given emissions, over many tracks.

The recursions are hmmlearn's compiled ones (C++, one pass per track, C^2 work per frame): a
:class:`~hmmlearn.base.BaseHMM` whose "observations" are the per-frame log-emissions themselves,
so ``decode`` and ``predict_proba`` run on the emissions a decoder computed (hmmlearn's documented
extension point, ``_compute_log_likelihood``). Every track starts from ``init`` (a track boundary
always resets the chain). Tests: brute-force enumeration of every path, a plain recursion.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from hmmlearn.base import BaseHMM


class _GivenEmissions(BaseHMM):
    """An HMM whose observation at frame t is the row of log-emissions ``log p(x_t | c)`` itself."""

    def _compute_log_likelihood(self, X: np.ndarray) -> np.ndarray:
        return X

    def _compute_likelihood(self, X: np.ndarray) -> np.ndarray:
        # a per-frame scale cancels in every normalisation of the scaled recursion: no underflow
        return np.exp(X - X.max(1, keepdims=True))

    def _get_n_fit_scalars_per_param(self) -> dict[str, int]:  # never fitted: its parameters are given
        return {}


def _model(init: np.ndarray, trans: np.ndarray) -> _GivenEmissions:
    m = _GivenEmissions(n_components=len(init), implementation="scaling")
    m.startprob_, m.transmat_ = np.asarray(init, np.float64), np.asarray(trans, np.float64)
    return m


def _run(log_emit: Sequence[np.ndarray], c: int, fn, empty) -> list[np.ndarray]:
    """``fn(X, lengths)`` over the non-empty tracks concatenated, split back per track."""
    lengths = [len(x) for x in log_emit]
    kept = [n for n in lengths if n]
    if not kept:
        return [empty() for _ in lengths]
    flat = fn(np.concatenate([np.asarray(x, np.float64).reshape(-1, c) for x in log_emit if len(x)]), kept)
    parts = iter(np.split(flat, np.cumsum(kept)[:-1]))
    return [next(parts) if n else empty() for n in lengths]


def viterbi(log_emit: Sequence[np.ndarray], init: np.ndarray, trans: np.ndarray) -> list[np.ndarray]:
    """The most probable class path of each track: argmax over paths of
    ``log init[c_0] + log_emit[0, c_0] + sum_t (log trans[c_{t-1}, c_t] + log_emit[t, c_t])``."""
    c = len(init)
    m = _model(init, trans)
    return _run(log_emit, c, lambda X, n: m.decode(X, n, algorithm="viterbi")[1].astype(np.int64),
                lambda: np.zeros(0, np.int64))


def posteriors(log_emit: Sequence[np.ndarray], init: np.ndarray, trans: np.ndarray) -> list[np.ndarray]:
    """Forward-backward marginals p(c_t | every frame of the track), (n, C) per track, rows summing to 1."""
    c = len(init)
    m = _model(init, trans)
    return _run(log_emit, c, m.predict_proba, lambda: np.zeros((0, c)))


def log_partition(log_emit: np.ndarray, lengths: Sequence[int], init: np.ndarray,
                  trans: np.ndarray) -> tuple[float, np.ndarray]:
    """Over tracks laid end to end in ``log_emit`` (N, C) (``lengths`` frames each, none empty):
    the summed log of each track's sum over class paths, and the per-frame marginals, which are that
    sum's gradient with respect to ``log_emit`` (the CRF loss's backward pass)."""
    X = np.asarray(log_emit, np.float64)
    log_prob, post = _model(init, trans).score_samples(X, list(lengths))
    return float(log_prob + X.max(1).sum()), post  # the scaled recursion's per-frame shifts added back
