"""Audio extractors with one row per label frame (``frame_window`` timing): a fixed-length window
of audio embedded at points of a grid that spans the frames, interpolated to each frame.

Windows are computed every ``hop`` seconds (default ``window / 5``) from the first frame to the
last, and linearly interpolated to each frame's timestamp: at 25 fps and a 2 s window that is 5x
fewer forwards than one window per frame. Near the ends of the audio a window is shifted to lie
inside it, so every window has the full length and batches without padding (with audio shorter
than the window, the whole audio is the window). Windows are views of the wave; only the
``batch_size`` windows of one forward are ever copied.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..registry import Extractor, Timing

MIN_SAMPLES = 800  # 50 ms at 16 kHz: anything shorter gets zeros


def window_timing(window: float, hop: float | None = None) -> Timing:
    return Timing("frame_window", hop=hop if hop is not None else window / 5, window=window)


def parse_window(value: str | float | None, default: float) -> float:
    """A window length in seconds (``NAME:SECONDS``), 0.1-60."""
    if value is None or value == "":
        return default
    try:
        w = float(value)
    except (TypeError, ValueError):
        raise ValueError("expected a window in seconds, e.g. 3") from None
    if not 0.1 <= w <= 60:
        raise ValueError("window must be 0.1-60 s")
    return w


def interpolate_rows(grid: np.ndarray, rows: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Linear interpolation of (G, D) rows at ``grid`` times to ``at`` times (held at the ends)."""
    if len(grid) == 1:
        return np.repeat(rows, len(at), axis=0)
    j = np.clip(np.searchsorted(grid, at, side="right"), 1, len(grid) - 1)
    t0, t1 = grid[j - 1], grid[j]
    w = np.clip((at - t0) / np.maximum(t1 - t0, 1e-12), 0.0, 1.0)[:, None]
    return ((1 - w) * rows[j - 1] + w * rows[j]).astype(np.float32)


@dataclass
class WindowedExtractor(Extractor):
    """Implements ``extract_windows``; subclasses implement :meth:`embed` on a batch of windows."""

    device: Any = None

    def embed(self, windows: np.ndarray) -> np.ndarray:
        """(B, L) float32 windows (a fresh contiguous array) -> (B, dim) float32."""
        raise NotImplementedError

    def grid(self, centres: np.ndarray) -> np.ndarray:
        lo, hi = float(np.min(centres)), float(np.max(centres))
        hop = self.timing.hop or 0.0
        if hop <= 0 or hi - lo <= hop:
            return np.unique(np.array([lo, hi]))
        g = lo + hop * np.arange(int(np.floor((hi - lo) / hop)) + 1)
        return g if g[-1] >= hi - 1e-9 else np.append(g, hi)

    def window_starts(self, n_samples: int, sr: int, times: np.ndarray) -> tuple[np.ndarray, int]:
        length = min(n_samples, int(round(self.timing.window * sr)))
        starts = np.round(times * sr).astype(np.int64) - length // 2
        return np.clip(starts, 0, n_samples - length), length

    def extract_windows(self, wave: np.ndarray, sample_rate: int, centres: np.ndarray) -> np.ndarray:
        self.note_standin()
        centres = np.asarray(centres, np.float64)
        if len(centres) == 0:
            return np.zeros((0, self.dim), np.float32)
        wave = np.asarray(wave, np.float32)
        if len(wave) < MIN_SAMPLES:
            return np.zeros((len(centres), self.dim), np.float32)
        grid = self.grid(centres)
        starts, length = self.window_starts(len(wave), sample_rate, grid)
        view = np.lib.stride_tricks.sliding_window_view(wave, length)  # no copy
        rows = np.empty((len(starts), self.dim), np.float32)
        bs = max(1, self.batch_size)
        for b in range(0, len(starts), bs):
            rows[b : b + bs] = self.embed(view[starts[b : b + bs]])  # copies this batch only
        return interpolate_rows(grid, rows, centres)
