"""A small synthetic corpus whose features carry valence/arousal and AU activations linearly,
with per-track offsets and scales (which per-track standardisation removes) and frame noise
(which smoothing removes)."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.stats import norm


def smooth_walk(rng, n, k, sigma):
    return gaussian_filter1d(rng.normal(size=(n, k)), sigma, axis=0, mode="nearest") * np.sqrt(sigma * 3.5)


def make_tracks(n_tracks=10, n=240, d=20, noise=1.5, seed=0):
    """Lists (names, raw features, VA (NaN rows), AU (-1 rows))."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(2 + 12, d))
    rates = np.linspace(0.1, 0.45, 12)
    names, xs, vas, aus = [], [], [], []
    for t in range(n_tracks):
        lat = smooth_walk(rng, n, 14, 6.0)
        va = np.tanh(0.8 * lat[:, :2]).astype(np.float32)
        au = (lat[:, 2:] > norm.ppf(1 - rates)).astype(np.int8)  # latents are ~N(0, 1)
        x = np.c_[va, lat[:, 2:]] @ w + noise * rng.normal(size=(n, d))
        x = x * rng.uniform(0.5, 2.0, d) + rng.normal(0, 3, d)  # the track's own offset and scale
        va[rng.random(n) < 0.1] = np.nan
        au[rng.random(n) < 0.1] = -1
        names.append(f"v{t:02d}")
        xs.append(x.astype(np.float32))
        vas.append(va)
        aus.append(au)
    return names, xs, vas, aus
