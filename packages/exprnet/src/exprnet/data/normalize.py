"""Feature normalisation (``data.normalize``), as one affine map per track on the bank's values.

- ``train``: standardise every column with the training tracks' mean and std (:class:`Standardizer`);
- ``track``: standardise every column with the track's own mean and std (per-speaker
  normalisation, common in affect work): a subject's constant offset and scale go away. The
  statistics of a feature use the rows where it is present (a face was found), all rows if it is
  never present; a column that is constant within the track keeps the training std. It needs no
  label, so predictions on test tracks use the same rule;
- ``none``: raw values.

A batch row is ``values * inv + shift`` (float32) with ``(inv, shift)`` of its track; the bank's
float16 ``(raw - offset) * scale`` mapping is folded in, so no copy of the data is made.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from .bank import FeatureBank, Standardizer

NORMALIZE = ("train", "track", "none")
Mode = Literal["train", "track", "none"]


def track_moments(bank: FeatureBank, i: int, max_elems: int = 1 << 22) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of track ``i``'s columns in bank units, per feature over its present rows."""
    r = bank.rows(i)
    d = bank.dim
    cols = np.concatenate([[0], np.cumsum(bank.dims)]).astype(int)
    use = bank.present[r]
    use = use | ~use.any(axis=0)  # a feature never present: all its rows
    shift = s1 = s2 = None
    count = np.zeros(d)
    chunk = max(1, max_elems // max(1, d))
    for a in range(r.start, r.stop, chunk):
        x = bank.values[a:min(a + chunk, r.stop)].astype(np.float64)
        keep = np.repeat(use[a - r.start:a - r.start + len(x)], np.diff(cols), axis=1)
        if shift is None:  # shifted sums keep the variance exact when |mean| >> std
            shift = np.where(keep, x, 0).sum(0) / np.maximum(keep.sum(0), 1)
            s1, s2 = np.zeros(d), np.zeros(d)
        x = np.where(keep, x - shift, 0.0)
        s1 += x.sum(0)
        s2 += np.square(x).sum(0)
        count += keep.sum(0)
    if shift is None:
        return np.zeros(d), np.zeros(d)
    m = s1 / np.maximum(count, 1)
    var = np.maximum(s2 / np.maximum(count, 1) - m * m, 0.0)
    return m + shift, np.sqrt(var)


class Normalizer:
    """Per-track ``(inv, shift)`` for :class:`~exprnet.data.batches.BatchBuilder`."""

    def __init__(self, bank: FeatureBank, stats: Standardizer, mode: Mode = "train"):
        if mode not in NORMALIZE:
            raise ValueError(f"unknown normalisation {mode!r}; choose from {', '.join(NORMALIZE)}")
        self.mode = mode
        scale, offset = np.asarray(bank.scale, np.float64), np.asarray(bank.offset, np.float64)
        std = stats.std.astype(np.float64)
        if mode == "none":
            self._global = ((1.0 / scale).astype(np.float32), offset.astype(np.float32))
        else:  # (raw - mean) / std = values * inv + shift
            self._global = ((1.0 / (std * scale)).astype(np.float32),
                            ((offset - stats.mean) / std).astype(np.float32))
        self._tracks: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        if mode == "track":
            floor = std * scale  # the training std, in bank units
            for i in range(len(bank.tracks)):
                m, s = track_moments(bank, i)
                s = np.where(s > 1e-6 * floor, s, floor)
                self._tracks[i] = ((1.0 / s).astype(np.float32), (-m / s).astype(np.float32))

    def affine(self, track: int) -> tuple[np.ndarray, np.ndarray]:
        return self._tracks[track] if self.mode == "track" else self._global

    def set_track_affine(self, track: int, affine: tuple[np.ndarray, np.ndarray]) -> None:
        """Use ``affine`` (inv, shift) for ``track`` from now on: moments computed elsewhere (a
        live stream's rows so far). Only ``track`` normalisation has per-track moments."""
        if self.mode != "track":
            raise ValueError(f"set_track_affine on a {self.mode!r} normaliser; only 'track' normalisation is per track")
        inv, shift = affine
        self._tracks[track] = (np.asarray(inv, np.float32), np.asarray(shift, np.float32))
