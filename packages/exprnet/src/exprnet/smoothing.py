"""Temporal smoothing of per-frame probabilities within each track (box or median over +-k)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.ndimage import median_filter, uniform_filter1d

from .metrics import macro_f1

KINDS = ("box", "median")


def smooth(probs: np.ndarray, k: int, kind: str = "box") -> np.ndarray:
    """(n, C) probabilities of one track, smoothed over a window of 2k+1 frames (edges: nearest)."""
    if k <= 0:
        return probs
    if kind == "box":
        return uniform_filter1d(probs, size=2 * k + 1, axis=0, mode="nearest")
    if kind == "median":
        out = median_filter(probs, size=(2 * k + 1, 1), mode="nearest")
        return out / np.maximum(out.sum(1, keepdims=True), 1e-12)
    raise ValueError(f"unknown smoothing {kind!r}; choose from {', '.join(KINDS)}")


def smooth_tracks(per_track: Sequence[np.ndarray], k: int, kind: str = "box") -> list[np.ndarray]:
    return [smooth(p, k, kind) for p in per_track]


def choose_k(per_track: Sequence[np.ndarray], labels: Sequence[np.ndarray], kind: str = "box",
             candidates: Sequence[int] = (0, 1, 2, 4, 6, 8, 12, 16, 24, 32)) -> tuple[int, dict[int, float]]:
    """The window half-width with the best F1 on these tracks, and every candidate's F1."""
    y = np.concatenate(labels)
    scores = {k: macro_f1(y, np.concatenate(smooth_tracks(per_track, k, kind)).argmax(1)) for k in candidates}
    return max(scores, key=lambda k: (scores[k], -k)), scores
