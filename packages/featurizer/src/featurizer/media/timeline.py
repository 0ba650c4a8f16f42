"""Label frames and the alignment of any extractor's rows to them.

Label frame i has timestamp t_i and the interval [t_i - d_i/2, t_i + d_i/2), where the interval
edges are the midpoints between neighbouring timestamps (this equals d/2 either side at a constant
frame rate and stays gap-free at a variable one). A row with centre c belongs to the frame whose
interval holds c; a frame's value is the mean of its rows; a frame with no row takes the nearest
row and is marked not present. Times are compared at microsecond resolution, so a row centred
exactly on an edge (10 ms hops against 25 or 30 fps put many there) deterministically belongs to
the later frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .decode import frame_durations


@dataclass(frozen=True)
class Timeline:
    """The rows of one track in the store: one per label frame."""

    track: str
    timestamps: np.ndarray  # (n,) float64 seconds
    frame_present: np.ndarray  # (n,) bool: the row has a real video frame
    video_index: np.ndarray  # (n,) int: index of the video frame the row reads (nearest one)

    @property
    def n(self) -> int:
        return len(self.timestamps)

    @classmethod
    def from_video(cls, track: str, video_ts: np.ndarray, n_labels: int | None = None) -> Timeline:
        """One row per video frame, or per annotation line (``n_labels``) when labels are given.

        Annotation line i is video frame i; lines past the video's end take its last frame
        (nearest) and are marked not present; their timestamps continue at the last frame rate.
        """
        n_video = len(video_ts)
        n = n_video if n_labels is None else n_labels
        idx = np.minimum(np.arange(n), n_video - 1)
        ts = np.asarray(video_ts, dtype=np.float64)[idx].copy()
        if n > n_video:
            step = frame_durations(np.asarray(video_ts, dtype=np.float64))[-1]
            ts[n_video:] = video_ts[-1] + step * np.arange(1, n - n_video + 1)
        return cls(track, ts, np.arange(n) < n_video, idx)

    @classmethod
    def at_rate(cls, track: str, n: int, rate: float) -> Timeline:
        """An audio-only file's rows: ``n`` at ``i / rate`` s, each one a frame (there is no video
        to run past); rows the audio does not cover are filled when rows are aligned."""
        idx = np.arange(n)
        return cls(track, idx / float(rate), np.ones(n, bool), idx)


def frame_edges(timestamps: np.ndarray) -> np.ndarray:
    """(n + 1,) interval edges: midpoints between frames, half a frame beyond each end."""
    t = np.asarray(timestamps, dtype=np.float64)
    d = frame_durations(t)
    mids = (t[:-1] + t[1:]) / 2
    return np.concatenate([[t[0] - d[0] / 2], mids, [t[-1] + d[-1] / 2]])


def to_us(t: np.ndarray) -> np.ndarray:
    """Seconds -> integer microseconds (exact comparisons at edges)."""
    return np.round(np.asarray(t, np.float64) * 1e6).astype(np.int64)


def nearest_index(src_times: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Index into sorted ``src_times`` of the nearest element for each query time."""
    src = np.asarray(src_times, dtype=np.float64)
    j = np.clip(np.searchsorted(src, query), 1, len(src) - 1) if len(src) > 1 else np.zeros(len(query), int)
    if len(src) > 1:
        left_closer = (query - src[j - 1]) <= (src[j] - query)
        j = np.where(left_closer, j - 1, j)
    return j.astype(np.int64)


def align_rows(
    values: np.ndarray, centres: np.ndarray, timestamps: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Pool rows (centres in seconds, same clock as ``timestamps``) onto label frames.

    Returns (n_frames, dim) float32 values and the (n_frames,) present mask.
    """
    values = np.asarray(values, dtype=np.float32)
    n, dim = len(timestamps), values.shape[1]
    if len(values) == 0:
        return np.zeros((n, dim), np.float32), np.zeros(n, bool)
    edges = to_us(frame_edges(timestamps))
    frame = np.searchsorted(edges, to_us(centres), side="right") - 1
    inside = (frame >= 0) & (frame < n)
    sums = np.zeros((n, dim), np.float64)
    np.add.at(sums, frame[inside], values[inside])
    counts = np.bincount(frame[inside], minlength=n)
    present = counts > 0
    out = np.empty((n, dim), np.float32)
    out[present] = sums[present] / counts[present, None]
    if not present.all():
        near = nearest_index(np.asarray(centres, np.float64), np.asarray(timestamps)[~present])
        out[~present] = values[near]
    return out, present


def fill_nearest(values: np.ndarray, present: np.ndarray, times: np.ndarray | None = None) -> np.ndarray:
    """Rows not present take the temporally nearest present row (index distance by default)."""
    present = np.asarray(present, bool)
    if present.all() or not present.any():
        return values
    t = np.arange(len(present), dtype=np.float64) if times is None else np.asarray(times, np.float64)
    src = np.flatnonzero(present)
    out = values.copy()
    out[~present] = values[src[nearest_index(t[src], t[~present])]]
    return out
