"""Run an audio extractor over a whole track: chunked with context, stitched by row centre."""

from __future__ import annotations

import numpy as np

from .media import Audio
from .registry import Extractor


def audio_chunks(n_samples: int, sr: int, chunk_s: float, context_s: float) -> list[tuple[int, int, int, int]]:
    """(input_start, input_end, core_start, core_end) sample spans that tile the audio."""
    core, ctx = max(1, int(round(chunk_s * sr))), int(round(context_s * sr))
    spans = []
    for c0 in range(0, n_samples, core):
        c1 = min(n_samples, c0 + core)
        spans.append((max(0, c0 - ctx), min(n_samples, c1 + ctx), c0, c1))
    return spans


def hop_rows(extractor: Extractor, audio: Audio) -> tuple[np.ndarray, np.ndarray]:
    """Rows and their centres (seconds, video clock) of a ``hop`` extractor over the whole track.

    Without ``max_chunk_seconds`` the track goes through in one call. Otherwise it is cut into
    chunks with ``chunk_context_seconds`` of context on each side; a chunk keeps the rows whose
    centres fall in its core, so the stitched rows follow one hop grid with no padding rows.
    """
    t, sr, wave = extractor.timing, audio.sample_rate, audio.samples
    if extractor.max_chunk_seconds is None or audio.duration <= extractor.max_chunk_seconds:
        (rows,) = extractor.extract_audio([wave], sr)
        return rows, audio.start + t.centres(len(rows))
    spans = audio_chunks(len(wave), sr, extractor.max_chunk_seconds, extractor.chunk_context_seconds)
    kept_rows: list[np.ndarray] = []
    kept_centres: list[np.ndarray] = []
    bs = max(1, extractor.batch_size)
    for b in range(0, len(spans), bs):
        batch = spans[b : b + bs]
        outs = extractor.extract_audio([wave[s0:s1] for s0, s1, _, _ in batch], sr)
        for (s0, _s1, c0, c1), rows in zip(batch, outs):
            centres = s0 / sr + t.centres(len(rows))
            keep = (centres >= c0 / sr) & (centres < c1 / sr)
            kept_rows.append(rows[keep])
            kept_centres.append(centres[keep])
    return np.concatenate(kept_rows), audio.start + np.concatenate(kept_centres)
