"""``data.normalize: track`` live: each column standardised with the moments of the person's rows
so far (offline uses the whole track's, which a stream does not have yet).

The rule is offline's (:func:`exprnet.data.normalize.track_moments`): a feature's moments over the
rows where it is present (all rows while it never was), in bank units; a column whose std is below
``1e-6`` of the training std keeps the training std. At a stream's last frame the moments are the
whole track's, so a member that reads one frame at a time gives offline's row there; earlier rows
differ by the drift of the moments, largest at the start.
"""

from __future__ import annotations

import numpy as np


class RunningMoments:
    def __init__(self, dims: list[int], floor: np.ndarray):
        self.cols = np.concatenate([[0], np.cumsum(dims)]).astype(int)
        self.floor = np.asarray(floor, np.float64)  # the training std, in bank units
        d = int(self.cols[-1])
        self.shift: np.ndarray | None = None
        # per column: sums over present rows, and over all rows
        self.n, self.s1, self.s2 = np.zeros(d), np.zeros(d), np.zeros(d)
        self.n_all, self.s1_all, self.s2_all = 0, np.zeros(d), np.zeros(d)

    def add(self, values: np.ndarray, present: np.ndarray) -> None:
        """One row (bank units) and its per-feature present flags."""
        x = np.asarray(values, np.float64)
        if self.shift is None:
            self.shift = x.copy()  # shifted sums keep the variance exact when |mean| >> std
        x = x - self.shift
        keep = np.repeat(np.asarray(present, bool), np.diff(self.cols)).astype(np.float64)
        self.n += keep
        self.s1 += keep * x
        self.s2 += keep * x * x
        self.n_all += 1
        self.s1_all += x
        self.s2_all += x * x

    def affine(self) -> tuple[np.ndarray, np.ndarray]:
        """(inv, shift) as :class:`~exprnet.data.normalize.Normalizer` gives a track."""
        use = self.n > 0
        n = np.where(use, self.n, self.n_all)
        s1 = np.where(use, self.s1, self.s1_all)
        s2 = np.where(use, self.s2, self.s2_all)
        m = s1 / np.maximum(n, 1)
        var = np.maximum(s2 / np.maximum(n, 1) - m * m, 0.0)
        mean = m + (self.shift if self.shift is not None else 0.0)
        s = np.sqrt(var)
        s = np.where(s > 1e-6 * self.floor, s, self.floor)
        return (1.0 / s).astype(np.float32), (-mean / s).astype(np.float32)
