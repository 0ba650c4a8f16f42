"""Combining many runs' per-frame probabilities: vote, mean, fitted weights, greedy selection.

Everything works on ``Probs``: track -> (n_frames, 8) float probabilities, and ``Labels``:
track -> (n_frames,) int labels (-1 = unannotated, ignored by the metric). The F1 is the challenge
metric over all frames of all tracks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize

from ..data.splits import track_groups
from ..reports.metrics import macro_f1

Probs = dict[str, np.ndarray]
Labels = dict[str, np.ndarray]
METHODS = ("oof", "mean", "weighted", "greedy", "vote")  # oof: weights fitted on training tracks (.oof)


def stack(members: Sequence[Probs], tracks: Sequence[str]) -> np.ndarray:
    """(n_members, total_frames, C) in track order."""
    return np.stack([np.concatenate([m[t] for t in tracks]) for m in members]).astype(np.float64)


def flat_labels(labels: Labels, tracks: Sequence[str]) -> np.ndarray:
    return np.concatenate([labels[t] for t in tracks])


def vote(P: np.ndarray) -> np.ndarray:
    """Majority of the members' argmax per frame; a tie goes to the tied class with the highest
    mean probability over members."""
    m, n, c = P.shape
    votes = np.zeros((n, c), np.int64)
    np.add.at(votes, (np.arange(n)[None].repeat(m, 0), P.argmax(2)), 1)
    top = votes == votes.max(1, keepdims=True)
    return np.where(top, P.mean(0), -np.inf).argmax(1)


def vote_probs(P: np.ndarray) -> np.ndarray:
    """Vote shares as probabilities (ties resolved as in ``vote`` by a tiny mean-probability term)."""
    m, n, c = P.shape
    votes = np.zeros((n, c))
    np.add.at(votes, (np.arange(n)[None].repeat(m, 0), P.argmax(2)), 1.0)
    return votes / m + 1e-6 * P.mean(0)


def weighted_mean(P: np.ndarray, w: np.ndarray) -> np.ndarray:
    w = np.asarray(w, np.float64)
    return np.tensordot(w / w.sum(), P, axes=1)


def fit_weights(P: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Simplex weights minimising the negative log-likelihood of the labelled frames."""
    keep = y >= 0
    Pk, yk = P[:, keep], y[keep]
    m = len(P)
    if m == 1 or not keep.any():
        return np.ones(m) / m
    picked = Pk[:, np.arange(len(yk)), yk]  # (m, n) probability of the true class

    def nll(z: np.ndarray) -> tuple[float, np.ndarray]:
        w = np.exp(z - z.max())
        w /= w.sum()
        q = np.maximum(w @ picked, 1e-12)
        g_w = -(picked / q).mean(1)
        return float(-np.log(q).mean()), w * (g_w - w @ g_w)

    z = minimize(nll, np.zeros(m), jac=True, method="L-BFGS-B").x
    w = np.exp(z - z.max())
    return w / w.sum()


def greedy_select(P: np.ndarray, y: np.ndarray, max_steps: int = 50) -> np.ndarray:
    """Forward selection with replacement (Caruana et al. 2004): start from the best member, add
    the member whose inclusion most raises F1 of the mean; stop when nothing raises it.
    Returns per-member counts (the weights)."""
    m = len(P)
    scores = [macro_f1(y, P[i].argmax(1)) for i in range(m)]
    counts = np.zeros(m, np.int64)
    counts[int(np.argmax(scores))] = 1
    total = P[int(np.argmax(scores))].copy()
    best = max(scores)
    for _ in range(max_steps):
        k = counts.sum()
        cand = [macro_f1(y, ((total + P[i]) / (k + 1)).argmax(1)) for i in range(m)]
        i = int(np.argmax(cand))
        if cand[i] <= best + 1e-12:
            break
        best, counts[i], total = cand[i], counts[i] + 1, total + P[i]
    return counts.astype(np.float64)


def fit_class_bias(Q: np.ndarray, y: np.ndarray, rounds: int = 2,
                   grid: np.ndarray | None = None) -> np.ndarray:
    """Per-class log-probability offsets maximising F1, by coordinate ascent over a grid."""
    grid = np.linspace(-1.5, 1.5, 13) if grid is None else grid
    logq = np.log(np.maximum(Q, 1e-12))
    b = np.zeros(Q.shape[1])
    best = macro_f1(y, logq.argmax(1))
    for _ in range(rounds):
        for c in range(Q.shape[1]):
            for v in grid:
                trial = b.copy()
                trial[c] = v
                s = macro_f1(y, (logq + trial).argmax(1))
                if s > best + 1e-12:
                    best, b = s, trial
    return b


@dataclass
class Combiner:
    """A fitted way to turn members' probabilities into one (n, C) probability array."""

    method: str
    weights: np.ndarray
    bias: np.ndarray | None = None
    info: dict = field(default_factory=dict)

    def combine(self, P: np.ndarray) -> np.ndarray:
        if self.method == "vote":
            Q = vote_probs(P)
        else:
            Q = weighted_mean(P, self.weights)
        if self.bias is not None:
            Q = Q * np.exp(self.bias)
            Q = Q / Q.sum(1, keepdims=True)
        return Q


def fit_combiner(method: str, P: np.ndarray, y: np.ndarray, class_bias: bool = False,
                 weights: np.ndarray | None = None) -> Combiner:
    """Fit ``method`` on validation members ``P`` (m, n, C) and labels ``y``; ``oof`` takes the
    ``weights`` fitted on the training tracks (:func:`exprnet.ensemble.oof.fit_oof_weights`)."""
    m = len(P)
    if method not in METHODS:
        raise ValueError(f"unknown ensemble method {method!r}; choose from {', '.join(METHODS)}")
    if method == "oof" and weights is None:
        raise ValueError("--method oof needs the weights fitted on the training tracks")
    w = {"oof": lambda: np.asarray(weights, np.float64), "vote": lambda: np.ones(m), "mean": lambda: np.ones(m),
         "weighted": lambda: fit_weights(P, y), "greedy": lambda: greedy_select(P, y)}[method]()
    comb = Combiner(method, w)
    if class_bias:
        comb.bias = fit_class_bias(comb.combine(P), y)
    return comb


def fits_on_validation(method: str, class_bias: bool) -> bool:
    return method in ("weighted", "greedy") or class_bias


def cross_validated(
    fit_and_apply: Callable[[list[int], list[int]], np.ndarray],
    tracks: Sequence[str], labels: Labels, k: int, group_of: Callable[[str], str],
) -> float:
    """F1 of predictions made for each fold's tracks by something fit on the other folds' tracks.

    ``fit_and_apply(train_idx, test_idx)`` returns predictions (frames of the test tracks, in order).
    """
    folds = track_groups(tracks, k, group_of)
    if len(folds) < 2:
        return float("nan")
    preds, ys = [], []
    for f in folds:
        train = [i for i in range(len(tracks)) if i not in set(f)]
        preds.append(fit_and_apply(train, f))
        ys.append(np.concatenate([labels[tracks[i]] for i in f]))
    return macro_f1(np.concatenate(ys), np.concatenate(preds))
