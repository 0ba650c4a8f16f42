"""Run an audio extractor over a whole track: chunked with context, batched, stitched by row centre."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..media.decode import Audio
from ..models.registry import Extractor


def audio_chunks(n_samples: int, sr: int, chunk_s: float, context_s: float) -> list[tuple[int, int, int, int]]:
    """(input_start, input_end, core_start, core_end) sample spans that tile the audio."""
    core, ctx = max(1, int(round(chunk_s * sr))), int(round(context_s * sr))
    spans = []
    for c0 in range(0, n_samples, core):
        c1 = min(n_samples, c0 + core)
        spans.append((max(0, c0 - ctx), min(n_samples, c1 + ctx), c0, c1))
    return spans


@dataclass(frozen=True)
class Window:
    """One forward's input ``[start, end)`` and the core ``[core_start, core_end)`` whose rows it keeps."""

    start: int
    end: int
    core_start: int
    core_end: int

    @property
    def length(self) -> int:
        return self.end - self.start


def chunk_windows(n_samples: int, sr: int, chunk_s: float, context_s: float,
                  hop_samples: int | None = None) -> list[Window]:
    """Windows of equal length (``chunk + 2 * context``) that tile the audio's cores.

    A window that would run past either end is shifted inside the audio rather than cut, so
    every window but possibly the last has the same length and they batch without padding.
    With ``hop_samples``, window starts are multiples of it, so every window's rows fall on the
    track's one hop grid; the last window then ends exactly at the end of the audio.
    """
    core = max(1, int(round(chunk_s * sr)))
    ctx = max(0, int(round(context_s * sr)))
    length = min(n_samples, core + 2 * ctx)
    hs = hop_samples if hop_samples and hop_samples > 0 else 1
    out = []
    for c0 in range(0, n_samples, core):
        c1 = min(n_samples, c0 + core)
        s = min(max(0, c0 - ctx), n_samples - length)
        at_end = s + length >= n_samples
        s -= s % hs  # snapping only adds left context
        e = n_samples if at_end else s + length
        if out and (out[-1].start, out[-1].end) == (s, e):  # same input: one forward, both cores
            out[-1] = Window(s, e, out[-1].core_start, c1)
        else:
            out.append(Window(s, e, c0, c1))
    return out


def _hop_samples(extractor: Extractor, sr: int) -> int | None:
    t = extractor.timing
    if t.kind != "hop" or not t.hop:
        return None
    hs = t.hop * sr
    return int(round(hs)) if abs(hs - round(hs)) < 1e-6 else None


def hop_rows(extractor: Extractor, audio: Audio) -> tuple[np.ndarray, np.ndarray]:
    """Rows and their centres (seconds, video clock) of a ``hop`` extractor over the whole track.

    Without ``max_chunk_seconds`` the track goes through in one call. Otherwise it is cut into
    windows of one length (chunk + context on each side, shifted inside the audio at its ends,
    starting on the hop grid); windows of equal length go through ``extract_audio`` together,
    ``batch_size`` at a time, and each keeps the rows whose centres fall in its core, so the
    stitched rows are exactly the unchunked run's row grid, with no padding rows.
    """
    t, sr, wave = extractor.timing, audio.sample_rate, audio.samples
    if extractor.max_chunk_seconds is None or audio.duration <= extractor.max_chunk_seconds:
        (rows,) = extractor.extract_audio([wave], sr)
        return rows, audio.start + t.centres(len(rows))
    hs = _hop_samples(extractor, sr)
    ctx = extractor.chunk_context_seconds
    if t.window:  # a kept row's window must lie inside its input
        ctx = max(ctx, t.window / 2 + (t.hop or 0))
    wins = chunk_windows(len(wave), sr, extractor.max_chunk_seconds, ctx, hs)
    groups: dict[int, list[Window]] = {}
    for w in wins:
        groups.setdefault(w.length, []).append(w)
    kept: list[tuple[np.ndarray, np.ndarray]] = []
    bs = max(1, extractor.batch_size)
    for same in groups.values():
        for b in range(0, len(same), bs):
            batch = same[b : b + bs]
            outs = extractor.extract_audio([wave[w.start : w.end] for w in batch], sr)
            for w, rows in zip(batch, outs, strict=True):
                centres = w.start / sr + t.centres(len(rows))
                us = np.round(centres * sr).astype(np.int64)  # exact sample positions
                keep = (us >= w.core_start) & (us < w.core_end)
                kept.append((centres[keep], rows[keep]))
    if not kept:
        return np.zeros((0, extractor.dim), np.float32), np.zeros(0)
    centres = np.concatenate([c for c, _ in kept])
    rows = np.concatenate([r for _, r in kept])
    order = np.argsort(centres, kind="stable")
    return rows[order], audio.start + centres[order]
