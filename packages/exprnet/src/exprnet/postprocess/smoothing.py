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
from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter1d, median_filter, uniform_filter1d

from ..errors import ConfigError
from ..reports.metrics import macro_f1
from .processor import Decoded, normalised, register

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
    """What to do: ``kind`` and a half-width, or ``width=None`` for ``auto`` (chosen on training
    tracks); ``optimistic``: the width is chosen on the validation labels it is scored on."""

    kind: str = "none"
    width: int | None = 0
    optimistic: bool = False

    @property
    def auto(self) -> bool:
        return self.kind != "none" and self.width is None and not self.optimistic

    def describe(self) -> str:
        if self.kind == "none":
            return "none"
        return f"{self.kind} +-{'optimistic' if self.optimistic else 'auto' if self.auto else self.width} frames"

    def apply(self, probs: np.ndarray) -> Decoded:
        """One track smoothed with this (fixed) width; labels are the rows' argmax."""
        if self.width is None:
            raise ValueError(f"{self.describe()}: choose the width before applying it")
        q = normalised(smooth(probs, self.width, self.kind))
        return Decoded(q, q.argmax(1))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "width": self.width}


def _load(d: dict[str, Any]) -> SmoothSpec:
    width = d.get("width", 0)
    if d["kind"] != "none" and (not isinstance(width, int) or width < 0):
        raise ConfigError(f"post-processing {d}", "a smoothing needs a whole width >= 0")
    return SmoothSpec(d["kind"], width if d["kind"] != "none" else 0)


for _kind in KINDS:
    register(_kind)(_load)


def parse_spec(text: str, where: str = "--smooth", optimistic_ok: bool = False) -> SmoothSpec:
    """``none``, ``box`` (auto width), ``gauss:auto``, ``median:12`` -> :class:`SmoothSpec`;
    ``box:optimistic`` (where ``optimistic_ok``: the ensemble's width fitted on validation)."""
    kind, _, width = text.strip().lower().partition(":")
    if kind not in KINDS:
        raise ConfigError(f"{where} {text}", f"unknown kind {kind!r}",
                          "use none, box, gauss or median, optionally with :WIDTH or :auto (e.g. box:12)")
    if kind == "none":
        return SmoothSpec("none", 0)
    if width in ("", "auto"):
        return SmoothSpec(kind, None)
    if width == "optimistic":
        if not optimistic_ok:
            raise ConfigError(f"{where} {text}", "only `exprnet ensemble` fits a width on the validation labels",
                              f"use {kind}:auto (chosen on training tracks) or {kind}:WIDTH")
        return SmoothSpec(kind, None, optimistic=True)
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
