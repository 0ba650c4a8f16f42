"""The expression chain of the training labels: frame shares, class-to-class transitions, runs.

Everything here reads label sequences only (per track, -1 = unannotated). A transition is
counted only between two consecutive labelled frames of one track, so neither a track boundary
nor a -1 stretch ever joins two expressions; a run (an unbroken stretch of one class) that
touches a track's end or a -1 frame is *censored*: its true length is at least what is seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..config import N_CLASSES


@dataclass(frozen=True)
class Runs:
    """Every run of the sequences given: its class, its length in frames, and whether it is censored."""

    classes: np.ndarray  # (r,) int
    lengths: np.ndarray  # (r,) int
    censored: np.ndarray  # (r,) bool: cut by a track end or a -1 frame (at least this long)


def label_runs(seqs: Sequence[np.ndarray]) -> Runs:
    """Runs of one class within the labelled stretches of each sequence."""
    cls, lens, cens = [], [], []
    for y in seqs:
        y = np.asarray(y, np.int64)
        if len(y) == 0:
            continue
        starts = np.r_[0, np.flatnonzero(np.diff(y)) + 1]
        ends = np.r_[starts[1:], len(y)]  # exclusive
        keep = y[starts] >= 0
        before = np.where(starts > 0, y[np.maximum(starts - 1, 0)], -1)
        after = np.where(ends < len(y), y[np.minimum(ends, len(y) - 1)], -1)
        cls.append(y[starts][keep])
        lens.append((ends - starts)[keep])
        cens.append(((before < 0) | (after < 0))[keep])
    if not cls:
        return Runs(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, bool))
    return Runs(np.concatenate(cls), np.concatenate(lens), np.concatenate(cens))


def transition_counts(seqs: Sequence[np.ndarray], n: int = N_CLASSES) -> np.ndarray:
    """(n, n) counts of (class at t, class at t+1) over consecutive labelled frames of each sequence."""
    out = np.zeros((n, n), np.int64)
    for y in seqs:
        y = np.asarray(y, np.int64)
        a, b = y[:-1], y[1:]
        ok = (a >= 0) & (b >= 0)
        np.add.at(out, (a[ok], b[ok]), 1)
    return out


def frame_shares(seqs: Sequence[np.ndarray], n: int = N_CLASSES, pseudo: float = 1.0) -> np.ndarray:
    """Share of each class among the labelled frames (``pseudo`` frames added to every class)."""
    y = np.concatenate([np.asarray(s, np.int64) for s in seqs]) if seqs else np.zeros(0, np.int64)
    counts = np.bincount(y[y >= 0], minlength=n).astype(np.float64) + pseudo
    return counts / counts.sum()


def transition_matrix(seqs: Sequence[np.ndarray], n: int = N_CLASSES, pseudo: float = 1.0) -> np.ndarray:
    """Row-stochastic (n, n) matrix of the next frame's class: the counts of
    :func:`transition_counts` with ``pseudo`` added to every entry (a class change never seen
    stays possible, and no row is empty)."""
    counts = transition_counts(seqs, n).astype(np.float64)
    off = ~np.eye(n, dtype=bool)
    counts[off] += pseudo
    counts[~off] += pseudo
    return counts / counts.sum(1, keepdims=True)


def balanced_transitions(trans: np.ndarray, shares: np.ndarray, balance: float) -> np.ndarray:
    """``trans`` with each class change's destination reweighted by ``shares ** -balance`` (the
    stay probabilities kept): 0 is the training chain, 1 makes a change as likely to enter a rare
    class as a frequent one (the mean per-class F1 weighs every class alike)."""
    n = len(shares)
    off = ~np.eye(n, dtype=bool)
    stay = np.diag(trans).copy()
    dest = np.where(off, trans * shares[None, :] ** -balance, 0.0)
    dest = dest / np.maximum(dest.sum(1, keepdims=True), 1e-300) * (1.0 - stay)[:, None]
    return dest + np.diag(stay)
