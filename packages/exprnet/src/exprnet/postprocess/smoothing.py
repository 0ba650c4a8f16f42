"""Temporal smoothing of per-frame probabilities, within each track (never across two tracks).

Kinds, for a half-width ``k`` (frames on each side): ``box`` (mean over 2k+1 frames), ``gauss``
(Gaussian weights, sigma k/2, cut at k frames), ``median`` (per-class median over 2k+1 frames,
rows renormalised), ``none``. At a track's ends the window is padded with the track's first/last
row. ``auto`` widths are chosen by :func:`choose_k` on tracks the reported score does not use
(training tracks), see :func:`resolve`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d, median_filter, uniform_filter1d

from .errors import ConfigError
from .metrics import macro_f1

KINDS = ("none", "box", "gauss", "median")
CANDIDATES = (0, 1, 2, 4, 6, 8, 12, 16, 24, 32, 48, 64)


def smooth(probs: np.ndarray, k: int, kind: str = "box") -> np.ndarray:
    """(n, C) probabilities of one track, smoothed over +-k frames (edges: nearest row)."""
    if k <= 0 or kind == "none" or len(probs) == 0:
        return probs
    if kind == "box":
        return uniform_filter1d(probs, size=2 * k + 1, axis=0, mode="nearest")
    if kind == "gauss":
        return gaussian_filter1d(probs, sigma=k / 2, axis=0, mode="nearest", truncate=2.0)
    if kind == "median":
        out = median_filter(probs, size=(2 * k + 1, 1), mode="nearest")
        return out / np.maximum(out.sum(1, keepdims=True), 1e-12)
    raise ValueError(f"unknown smoothing {kind!r}; choose from {', '.join(KINDS)}")


def smooth_tracks(per_track: Sequence[np.ndarray], k: int, kind: str = "box") -> list[np.ndarray]:
    return [smooth(p, k, kind) for p in per_track]


def choose_k(per_track: Sequence[np.ndarray], labels: Sequence[np.ndarray], kind: str = "box",
             candidates: Sequence[int] = CANDIDATES) -> tuple[int, dict[int, float]]:
    """The half-width with the best F1 on these tracks (ties: the smaller), and every candidate's F1."""
    y = np.concatenate(labels)
    scores = {k: macro_f1(y, np.concatenate(smooth_tracks(per_track, k, kind)).argmax(1)) for k in candidates}
    return max(scores, key=lambda k: (scores[k], -k)), scores


def tracks_for_width(ids: Sequence[int], lengths: Sequence[int], max_frames: int, seed: int = 0) -> list[int]:
    """A seeded random subset of tracks with at most ``max_frames`` frames in all (at least one
    track): what an ``auto`` width is chosen on when the training tracks are many."""
    order = np.random.default_rng(seed).permutation(len(ids))
    out, total = [], 0
    for k in order:
        if out and total + lengths[k] > max_frames:
            continue
        out.append(ids[k])
        total += lengths[k]
    return sorted(out)


@dataclass(frozen=True)
class SmoothSpec:
    """What to do: ``kind`` and a half-width, or ``width=None`` for ``auto``."""

    kind: str = "none"
    width: int | None = 0

    @property
    def auto(self) -> bool:
        return self.kind != "none" and self.width is None

    def describe(self) -> str:
        return "none" if self.kind == "none" else f"{self.kind} +-{'auto' if self.auto else self.width} frames"


def parse_spec(text: str, where: str = "--smooth") -> SmoothSpec:
    """``none``, ``box`` (auto width), ``gauss:auto``, ``median:12`` -> :class:`SmoothSpec`."""
    kind, _, width = text.strip().lower().partition(":")
    if kind not in KINDS:
        raise ConfigError(f"{where} {text}", f"unknown kind {kind!r}",
                          "use none, box, gauss or median, optionally with :WIDTH or :auto (e.g. box:12)")
    if kind == "none":
        return SmoothSpec("none", 0)
    if width in ("", "auto"):
        return SmoothSpec(kind, None)
    if not width.isdigit():
        raise ConfigError(f"{where} {text}", f"width {width!r} is not a whole number of frames or auto",
                          "e.g. box:12 or box:auto")
    return SmoothSpec(kind, int(width))


def from_config(kind: str, width: int | str) -> SmoothSpec:
    return SmoothSpec(kind, None if width == "auto" else int(width)) if kind != "none" else SmoothSpec()


def resolve(spec: SmoothSpec, train_probs: Sequence[np.ndarray] | None,
            train_labels: Sequence[np.ndarray] | None) -> tuple[SmoothSpec, dict[int, float]]:
    """A fixed width for ``spec``: ``auto`` is chosen on the training tracks given (their
    probabilities from a model that did not fit them, where the caller has such; see the callers).
    Returns the fixed spec and each candidate's F1 on those tracks (empty for a fixed width)."""
    if not spec.auto:
        return spec, {}
    if not train_probs or train_labels is None:
        raise ValueError("an auto width needs training tracks' probabilities and labels")
    k, scores = choose_k(train_probs, train_labels, spec.kind)
    return SmoothSpec(spec.kind, k), scores
