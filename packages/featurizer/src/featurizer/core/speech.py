"""Speech segments from per-frame speech probabilities (the ``vad`` feature), numpy only.

Silero's own rule (``get_speech_timestamps``), on any grid of frames: speech starts where the
probability reaches ``threshold`` and ends where it has stayed below ``threshold - 0.15`` for
``min_silence`` seconds (the segment ending where that silence began); segments shorter than
``min_speech`` are dropped and the rest widened by ``pad`` on each side (overlaps merge).
"""

from __future__ import annotations

import numpy as np

THRESHOLD = 0.5


def speech_segments(probs: np.ndarray, times: np.ndarray, threshold: float = THRESHOLD,
                    min_speech: float = 0.25, min_silence: float = 0.1, pad: float = 0.03,
                    step: float | None = None) -> list[tuple[float, float]]:
    """(start, end) seconds of the speech in ``probs`` at frame centres ``times``; ``step``: the
    frames' spacing (default: their median spacing)."""
    p = np.asarray(probs, np.float64).reshape(-1)
    t = np.asarray(times, np.float64).reshape(-1)
    if not len(p):
        return []
    dt = float(step if step is not None else (np.median(np.diff(t)) if len(t) > 1 else 0.04))
    neg = threshold - 0.15
    segs: list[list[float]] = []
    start: float | None = None
    silent_since: float | None = None
    for ti, pi in zip(t, p, strict=True):
        lo = ti - dt / 2
        if start is None:
            if pi >= threshold:
                start, silent_since = lo, None
            continue
        if pi >= threshold:
            silent_since = None
        elif pi < neg:
            silent_since = lo if silent_since is None else silent_since
            if ti + dt / 2 - silent_since >= min_silence:
                segs.append([start, silent_since])
                start, silent_since = None, None
    if start is not None:
        segs.append([start, silent_since if silent_since is not None else float(t[-1] + dt / 2)])
    segs = [s for s in segs if s[1] - s[0] >= min_speech]
    out: list[list[float]] = []
    for a, b in segs:
        a, b = max(float(t[0] - dt / 2), a - pad), b + pad
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def speech_mask(probs: np.ndarray, times: np.ndarray, **kw: float) -> np.ndarray:
    """(n,) bool: the frames whose centre lies in a speech segment (:func:`speech_segments`)."""
    t = np.asarray(times, np.float64).reshape(-1)
    mask = np.zeros(len(t), bool)
    for a, b in speech_segments(probs, t, **kw):
        mask |= (t >= a) & (t < b)
    return mask
