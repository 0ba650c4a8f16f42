"""Audio features of a live stream over a rolling buffer, on exactly the offline row grid.

Offline (``featurizer.extract``) a ``hop`` extractor's rows sit at ``audio start + offset + k *
hop`` and a frame takes the mean of the rows whose centres fall between the midpoints to its
neighbours (the nearest row when none does). Live, the buffer is cut into cores as the offline
chunked path cuts a long track (windows start on the hop grid, with ``chunk_context_seconds``,
half an analysis window plus a hop, and at least ``min_context_s`` of context on each side), so each row is computed once its
right context has arrived: frame-local features (fbank, eGeMAPS low-level descriptors) equal the
offline rows; models that read the whole track at once offline (a Transformer over speech) see
their context window instead. ``frame_window`` extractors embed a frame's window once it has
arrived. The buffer keeps the context only: memory stays flat.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

CORE_S = 0.2  # seconds of new rows computed at once, at least (openSMILE costs ~50 ms a call)
# context on each side of a core, at least: eGeMAPS' pitch and voicing read about this much audio
# around a row although its declared window is 20 ms (0.5 s: eGeMAPS equal; ComParE within 0.2%, equal at 1 s)
MIN_CONTEXT_S = 0.5


def _us(t: float | np.ndarray) -> np.ndarray:
    return np.round(np.asarray(t, np.float64) * 1e6).astype(np.int64)


@dataclass
class _Rows:
    """Finished rows of one hop extractor: centres (seconds, stream clock) and values."""

    centres: list[np.ndarray] = field(default_factory=list)
    values: list[np.ndarray] = field(default_factory=list)

    def take(self) -> tuple[np.ndarray, np.ndarray]:
        if len(self.centres) > 1:
            self.centres, self.values = [np.concatenate(self.centres)], [np.concatenate(self.values)]
        return (self.centres[0], self.values[0]) if self.centres else (np.zeros(0), None)

    def trim(self, before: float) -> None:
        c, v = self.take()
        if v is not None:
            keep = c >= before
            self.centres, self.values = [c[keep]], [v[keep]]


class LiveAudio:
    """Rolling audio buffer and the recipe's audio extractors (loaded ``Extractor`` objects)."""

    def __init__(self, extractors: list, rate: int, min_context_s: float = MIN_CONTEXT_S):
        self.extractors, self.rate, self.min_context_s = extractors, rate, min_context_s
        self.start: float | None = None  # stream time of sample 0
        self.base = 0  # absolute index of buf[0]
        self.buf = np.zeros(0, np.float32)
        self.ended = False
        self.done = {e.name: 0 for e in extractors}  # absolute sample before which rows are final
        self.rows = {e.name: _Rows() for e in extractors if e.timing.kind == "hop"}

    @property
    def end_time(self) -> float:
        """Stream time up to which audio has arrived."""
        return (self.start or 0.0) + (self.base + len(self.buf)) / self.rate

    def context(self, e) -> float:
        t = e.timing
        ctx = max(float(e.chunk_context_seconds or 0.0), self.min_context_s)
        if t.window:
            ctx = max(ctx, t.window / 2 + (t.hop or 0.0))
        return ctx

    @property
    def lookahead_s(self) -> float:
        """How long after a moment its audio rows are final (right context and one core)."""
        return max([self.context(e) + CORE_S for e in self.extractors] + [0.0])

    def push(self, t: float, pcm: np.ndarray) -> None:
        """Append samples whose first one is at stream time ``t`` (a gap is filled with silence)."""
        if self.start is None:
            self.start = float(t)
        gap = int(round((t - self.end_time) * self.rate))
        parts = [self.buf] + ([np.zeros(gap, np.float32)] if gap > 0 else []) + [pcm.astype(np.float32)]
        self.buf = np.concatenate(parts)

    def finish(self) -> None:
        self.ended = True
        self.compute()

    def compute(self) -> None:
        """The rows whose right context has arrived: every such row at once, in one forward per
        extractor (a worker that fell behind catches up with few, long forwards; at least
        ``CORE_S`` of new rows, at most the extractor's ``max_chunk_seconds``)."""
        n = self.base + len(self.buf)
        for e in self.extractors:
            if e.timing.kind != "hop":
                continue
            ctx = int(round(self.context(e) * self.rate))
            core = max(1, int(round(CORE_S * self.rate)))
            most = int(e.max_chunk_seconds * self.rate) if e.max_chunk_seconds else None
            hs = self._hop(e)
            while True:
                c0 = self.done[e.name]
                c1 = n if self.ended else n - ctx
                if most is not None:
                    c1 = min(c1, c0 + most)
                if c1 <= c0 or (not self.ended and c1 - c0 < core):
                    break
                s = max(0, c0 - ctx)
                s -= s % hs
                end = n if self.ended and c1 == n else min(n, c1 + ctx)
                self._rows(e, s, end, c0, c1)
                self.done[e.name] = c1

    def _hop(self, e) -> int:
        hs = (e.timing.hop or 0) * self.rate
        return int(round(hs)) if hs and abs(hs - round(hs)) < 1e-6 else 1

    def _rows(self, e, s: int, end: int, c0: int, c1: int) -> None:
        wave = self.buf[max(0, s - self.base):end - self.base]
        s = max(s, self.base)
        if len(wave) == 0:
            return
        (rows,) = e.extract_audio([wave], self.rate)
        centres = s / self.rate + e.timing.centres(len(rows))
        us = np.round(centres * self.rate).astype(np.int64)
        keep = (us >= c0) & (us < c1)
        self.rows[e.name].centres.append(self.start + centres[keep])
        self.rows[e.name].values.append(np.asarray(rows, np.float32)[keep])

    def ready(self, until: float) -> bool:
        """True when every audio row that a frame ending at ``until`` reads is final."""
        if self.ended:
            return True
        if self.start is None:
            return False
        for e in self.extractors:
            if e.timing.kind == "hop":
                if (self.start + self.done[e.name] / self.rate) < until:
                    return False
            elif self.end_time < until + (e.timing.window or 0) / 2 + (e.timing.hop or 0):
                return False
        return True

    def frame_values(self, e, lo: float, hi: float, centre: float) -> tuple[np.ndarray, bool]:
        """One frame's row of ``e``: the mean of the rows centred in ``[lo, hi)`` (the nearest when none)."""
        if self.start is None:
            return np.zeros(e.dim, np.float32), False
        if e.timing.kind != "hop":
            rel = centre - self.start - self.base / self.rate
            vals = np.asarray(e.extract_windows(self.buf, self.rate, np.array([rel])), np.float32)[0]
            return vals, self.start - 1e-9 <= centre <= self.end_time + 1e-9
        c, v = self.rows[e.name].take()
        if v is None or not len(c):
            return np.zeros(e.dim, np.float32), False
        cu = _us(c)
        inside = (cu >= _us(lo)) & (cu < _us(hi))
        if inside.any():
            return (v[inside].astype(np.float64).sum(0) / inside.sum()).astype(np.float32), True
        j = int(np.argmin(np.abs(c - centre)))
        return v[j], False

    def trim(self, before: float) -> None:
        """Forget audio and rows no frame at or after ``before`` needs (keeps every context)."""
        if self.start is None:
            return
        keep_s = max([self.context(e) + (e.timing.window or 0) for e in self.extractors] + [0.0]) + 2 * CORE_S
        cut = int((before - self.start - keep_s) * self.rate)
        cut = min(cut, min(self.done.values(), default=cut) - int(keep_s * self.rate))
        if cut > self.base:
            self.buf = self.buf[cut - self.base:]
            self.base = cut
        for r in self.rows.values():
            r.trim(before - 1.0)


def frame_interval(frames: list[dict], prev: float | None, closed: bool) -> tuple[float, float | None]:
    """The first waiting frame's interval: midpoints to its neighbours (half a gap past the ends)."""
    t = frames[0]["t"]
    nxt = frames[1]["t"] if len(frames) > 1 else None
    if nxt is None and not closed:
        return t, None
    if nxt is not None:
        hi = (t + nxt) / 2
        lo = (prev + t) / 2 if prev is not None else t - (nxt - t) / 2
    else:
        gap = t - prev if prev is not None else 0.0
        lo, hi = t - gap / 2, t + gap / 2
    return lo, hi
