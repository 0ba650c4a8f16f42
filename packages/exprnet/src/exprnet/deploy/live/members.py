"""The bundle's members run incrementally on one person's rows, each as offline inference runs it.

- :class:`StepRunner`: a stateful LSTM, one frame at a time with its state carried (offline walks
  the track segment by segment with the state carried: the same recurrence); decided at once;
- :class:`FrameRunner`: a member that reads one frame at a time (a baseline classifier, a
  pretrained one); decided at once;
- :class:`SegmentRunner`: a windowed network (Transformer, BiLSTM, TCN, MLP) on offline's segment
  grid (``model.segment`` frames every ``model.infer_stride``, probabilities averaged where they
  overlap): a segment runs as soon as its last frame has arrived and a frame is decided once every
  segment that holds it has run, so its lookahead is ``segment - 1`` frames and its rows equal
  offline ones, except, with overlapping segments, the last ``segment`` frames of a stream that
  offline also reads from one extra segment aligned with the track's end (replayed for the frames
  still held when the stream ends).

Rows come in as the bank's float16 values and present flags; each runner keeps only the rows a
future segment can read (flat memory). ``data.normalize: track`` uses the moments of the rows so
far (:mod:`.moments`).
"""

from __future__ import annotations

import numpy as np
import torch

from ...data.bank import FeatureBank
from ...data.batches import BatchBuilder
from ...data.segments import Segment, overlapping_segments, track_segments
from ..members import dropped
from .moments import RunningMoments


class _Buffer:
    """Rows ``[base, base + n)`` of one track as a one-track :class:`FeatureBank` on demand."""

    def __init__(self, member, width: int, modalities: list[str]):
        self.m, self.base, self.modalities = member, 0, modalities
        self.values = np.zeros((0, width), np.float16)
        self.present = np.zeros((0, len(member.features)), bool)

    @property
    def end(self) -> int:
        return self.base + len(self.values)

    def add(self, values: np.ndarray, present: np.ndarray) -> None:
        self.values = np.concatenate([self.values, values])
        self.present = np.concatenate([self.present, present])

    def trim(self, before: int) -> None:
        if before > self.base:
            k = min(before - self.base, len(self.values))
            self.values, self.present, self.base = self.values[k:], self.present[k:], self.base + k

    def builder(self, absent: set[str]) -> BatchBuilder:
        m, cfg = self.m, self.m.lr.cfg
        n = len(self.values)
        bank = FeatureBank(["live"], np.array([0, n], np.int64), self.values, self.present, np.full(n, -1, np.int8),
                           list(m.features), list(m.lr.stats.dims), list(self.modalities))
        if absent:
            bank = dropped(bank, m.lr.stats, {"live": absent})
        return BatchBuilder(bank, m.lr.stats, cfg.model.segment or 1, cfg.data.present_flags,
                            unlabelled="context", pad=cfg.data.pad, normalize=cfg.data.normalize,
                            speech_gate=cfg.data.speech_gate)


class _Runner:
    lookahead = 0  # frames after a frame that must arrive before it is decided

    def __init__(self, member, modalities: list[str], absent: set[str]):
        self.m, self.absent = member, absent
        self.buf = _Buffer(member, sum(member.lr.stats.dims), modalities)
        self.decided = 0  # rows decided so far
        net = getattr(member.predictor, "_net", None) if member.lr.classifier is None else None
        self.width = int(getattr(net, "n_outputs", 8)) if net is not None else 8  # a multi-task net: all its outputs
        reads_bank = member.lr.classifier is not None or getattr(member.predictor, "_net", None) is not None
        self.moments = None
        if reads_bank and member.lr.cfg.data.normalize == "track":
            self.moments = RunningMoments(list(member.lr.stats.dims), member.lr.stats.std.astype(np.float64))

    def _cal(self, p: np.ndarray) -> np.ndarray:
        cal = self.m.calibration
        return p if cal is None or not len(p) else cal.apply(p).probs

    def _rows(self, values: np.ndarray, present: np.ndarray):
        """Add the rows; yield (builder, absolute row) for each new row, the builder normalising
        with the moments of the rows up to it (``data.normalize: track``)."""
        self.buf.add(values, present)
        b = self.buf.builder(self.absent)
        for r in range(self.buf.end - len(values), self.buf.end):
            if self.moments is not None:
                i = r - self.buf.base
                self.moments.add(b.bank.values[i], b.bank.present[i])
                b.norm.set_track_affine(0, self.moments.affine())
            yield b, r

    def push(self, values: np.ndarray, present: np.ndarray) -> np.ndarray:
        """New rows in; the probabilities of the rows decided now, (k, 8)."""
        raise NotImplementedError

    def close(self) -> np.ndarray:
        return np.zeros((0, self.width), np.float32)


class FrameRunner(_Runner):
    def push(self, values, present):
        clf = self.m.lr.classifier
        if clf is not None:
            out = [clf.predict_proba(b.inputs(0, slice(r - self.buf.base, r - self.buf.base + 1)))
                   for b, r in self._rows(values, present)]
            p = np.concatenate(out) if out else np.zeros((0, self.width), np.float32)
        else:  # a pretrained classifier: its rows are its input's probabilities
            self.buf.add(values, present)
            p = self.m.predictor.probs(self.buf.builder(self.absent).bank)[0]
        self.buf.trim(self.buf.end)
        self.decided += len(p)
        return self._cal(np.asarray(p, np.float32))


def _net(member):
    net = member.predictor._net
    net.eval()
    return net


class StepRunner(_Runner):
    def __init__(self, member, modalities, absent):
        super().__init__(member, modalities, absent)
        self.net, self.state = _net(member), None

    @torch.no_grad()
    def push(self, values, present):
        out = []
        for b, r in self._rows(values, present):
            batch = b.build([Segment(0, r - self.buf.base, 1, first=r == 0)])
            logits, self.state = self.net(batch.x[:, :1], batch.mask[:, :1], self.state, batch.reset)
            out.append(self.net.to_probs(logits)[0, :1].numpy())
        self.buf.trim(self.buf.end)
        self.decided += len(out)
        return self._cal(np.concatenate(out) if out else np.zeros((0, self.width), np.float32))


class SegmentRunner(_Runner):
    def __init__(self, member, modalities, absent):
        super().__init__(member, modalities, absent)
        cfg = member.lr.cfg.model
        self.net, self.seg = _net(member), int(cfg.segment)
        self.stride = int(cfg.infer_stride or self.seg)
        self.lookahead = self.seg - 1
        self.next = 0  # the next grid segment's first row
        self.sums = np.zeros((0, self.width), np.float64)  # rows [decided, ...)
        self.counts = np.zeros(0, np.float64)
        self._last: BatchBuilder | None = None

    @torch.no_grad()
    def _run(self, b: BatchBuilder, start: int, length: int) -> None:
        batch = b.build([Segment(0, start - self.buf.base, length, first=start == 0)])
        logits, _ = self.net(batch.x, batch.mask, None, batch.reset)
        p = self.net.to_probs(logits)[0, :length].numpy()
        need = start + length - self.decided
        if need > len(self.counts):
            self.sums = np.concatenate([self.sums, np.zeros((need - len(self.counts), self.width))])
            self.counts = np.concatenate([self.counts, np.zeros(need - len(self.counts))])
        a = start - self.decided
        lo = max(0, -a)
        self.sums[a + lo:a + length] += p[lo:]
        self.counts[a + lo:a + length] += 1

    def _take(self, upto: int) -> np.ndarray:
        k = upto - self.decided
        if k <= 0:
            return np.zeros((0, self.width), np.float32)
        p = (self.sums[:k] / np.maximum(self.counts[:k], 1)[:, None]).astype(np.float32)
        self.sums, self.counts, self.decided = self.sums[k:], self.counts[k:], upto
        self.buf.trim(min(self.next, self.decided) - self.seg)
        return self._cal(p)

    def push(self, values, present):
        for b, r in self._rows(values, present):
            self._last = b
            while self.next + self.seg <= r + 1:  # a grid segment ends at this row
                self._run(b, self.next, self.seg)
                self.next += self.stride
        return self._take(self.next)

    def close(self):
        n = self.buf.end
        cut = overlapping_segments if self.stride < self.seg else (lambda t, n, seg, stride: track_segments(t, n, seg))
        ran = lambda s: s.start < self.next and s.length == self.seg and s.start % self.stride == 0  # noqa: E731
        todo = [s for s in cut(0, n, self.seg, self.stride) if not ran(s) and s.start + s.length > self.decided]
        if todo and self._last is not None:
            b = self.buf.builder(self.absent)
            if self.moments is not None:
                b.norm.set_track_affine(0, self.moments.affine())
            for s in todo:
                self._run(b, s.start, s.length)
        return self._take(n)


def runner_for(member, modalities: list[str], absent: set[str]) -> _Runner:
    """The incremental form of ``member``."""
    if member.lr.classifier is not None or getattr(member.predictor, "_net", None) is None:
        return FrameRunner(member, modalities, absent)
    if member.predictor._net.stateful:
        return StepRunner(member, modalities, absent)
    return SegmentRunner(member, modalities, absent)
