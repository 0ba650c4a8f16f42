"""Segments -> tensors: gather rows from the float16 bank, convert and standardise per batch.

Each batch slot is one contiguous row range of the bank, so a batch is ``batch_size`` slice
conversions (float16 -> standardised float32, one fused pass each); no per-frame Python work.
:class:`Prefetcher` builds the next batches in a background thread while the model computes.

With ``unlabelled="drop"`` (the authors' code) a track that has frames labelled -1 is seen as its
labelled rows only (its *view*): segments are cut from those, so a -1 frame is never model input.
A segment shorter than the slot is padded with masked zeros (``pad="mask"``), or by repeating its
final frame and label as real rows (``pad="repeat"``, the authors' code).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from featurizer.core.ahead import Ahead

from .bank import FeatureBank, Standardizer
from .gate import SpeechGate
from .normalize import Normalizer
from .segments import Segment, Step


@dataclass
class Batch:
    x: torch.Tensor  # (B, L, D_in) float32, standardised (+ present flags)
    y: torch.Tensor  # (B, L) int64; -1 = no loss (unlabelled or padding)
    mask: torch.Tensor  # (B, L) bool, real rows
    reset: torch.Tensor  # (B,) bool, start the slot from a zero state
    segments: list[Segment | None]
    # multi-task: "va" (B, L, 2) float32 (NaN = no label), "au" (B, L, 12) float32 (-1 = no label)
    targets: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def frames(self) -> int:
        return int(self.mask.sum())

    def to(self, device: torch.device) -> Batch:
        nb = device.type == "cuda"
        return Batch(self.x.to(device, non_blocking=nb), self.y.to(device, non_blocking=nb),
                     self.mask.to(device, non_blocking=nb), self.reset.to(device, non_blocking=nb),
                     self.segments, {k: v.to(device, non_blocking=nb) for k, v in self.targets.items()})

    def describe(self, bank: FeatureBank) -> str:
        parts = [f"{bank.tracks[s.track]}[{s.start}:{s.start + s.length}]" for s in self.segments if s]
        return ", ".join(parts[:6]) + (f", ... ({len(parts)} segments)" if len(parts) > 6 else "")


def flag_columns(bank: FeatureBank, mode: str) -> list[list[int]]:
    """Present-flag inputs: per feature, per modality (all its features present), or none."""
    return flag_groups(bank.modalities, mode)


def flag_groups(modalities: Sequence[str], mode: str) -> list[list[int]]:
    """:func:`flag_columns` from the features' modalities alone (in the bank's feature order)."""
    if mode == "none":
        return []
    if mode == "feature":
        return [[j] for j in range(len(modalities))]
    groups: dict[str, list[int]] = {}
    for j, m in enumerate(modalities):
        groups.setdefault(m, []).append(j)
    return [groups[m] for m in sorted(groups)]


def input_dim(bank_dim: int, n_flags: int) -> int:
    return bank_dim + n_flags


def labelled_views(bank: FeatureBank) -> dict[int, np.ndarray]:
    """Track index -> the rows of its labelled frames, for tracks with some frames labelled -1
    (a fully labelled track, or one with no label at all, e.g. a test track, is seen whole); in a
    multi-task run a frame is labelled when any task labels it."""
    views = {}
    for i in range(len(bank.tracks)):
        keep = np.flatnonzero(bank.any_label(bank.rows(i)))
        if 0 < len(keep) < bank.length(i):
            views[i] = keep
    return views


class BatchBuilder:
    def __init__(self, bank: FeatureBank, stats: Standardizer, seg: int, present_flags: str = "none",
                 pin_memory: bool = False, unlabelled: str = "context", pad: str = "mask",
                 normalize: str = "train", speech_gate: str | None = None):
        if list(stats.features) != list(bank.features) or list(stats.dims) != list(bank.dims):
            raise ValueError("statistics were fitted on other features than the bank holds")
        if unlabelled not in ("context", "drop") or pad not in ("mask", "repeat"):
            raise ValueError(f"unlabelled={unlabelled!r}, pad={pad!r}: expected context|drop, mask|repeat")
        self.bank, self.seg, self.pad = bank, seg, pad
        self.views = labelled_views(bank) if unlabelled == "drop" else {}
        self.norm = Normalizer(bank, stats, normalize)  # type: ignore[arg-type]
        self.flags = flag_columns(bank, present_flags)
        self.gate = SpeechGate(bank, speech_gate, self.flags) if speech_gate else None
        self.pin = pin_memory

    @property
    def input_dim(self) -> int:
        return input_dim(self.bank.dim, len(self.flags))

    def length(self, track: int) -> int:
        """Rows of the track's view (what segments count)."""
        v = self.views.get(track)
        return self.bank.length(track) if v is None else len(v)

    def frame_rows(self, s: Segment) -> slice | np.ndarray:
        """The segment's real rows as positions within its track."""
        v = self.views.get(s.track)
        return slice(s.start, s.start + s.length) if v is None else v[s.start:s.start + s.length]

    def rows(self, s: Segment) -> slice | np.ndarray:
        """The segment's real rows in the bank."""
        return self._bank_rows(s.track, self.frame_rows(s))

    def _bank_rows(self, track: int, r: slice | np.ndarray) -> slice | np.ndarray:
        a = int(self.bank.offsets[track])
        return slice(a + r.start, a + r.stop) if isinstance(r, slice) else a + r

    def inputs(self, track: int, r: slice | np.ndarray | None = None, out: np.ndarray | None = None) -> np.ndarray:
        """Model inputs of a track's rows ``r`` (positions within the track; all by default):
        (n, input_dim) float32, normalised by ``data.normalize``, with present flags."""
        r = slice(0, self.bank.length(track)) if r is None else r
        rows = self._bank_rows(track, r)
        vals = self.bank.values[rows]
        d = self.bank.dim
        x = np.empty((len(vals), self.input_dim), np.float32) if out is None else out
        inv, shift = self.norm.affine(track)
        np.multiply(vals, inv, out=x[:, :d])  # float16 rows -> float32
        x[:, :d] += shift  # only the rows asked for
        if self.flags:
            present = self.bank.present[rows]
            for c, cols in enumerate(self.flags):
                x[:, d + c] = present[:, cols].all(axis=1)
        if self.gate is not None:
            self.gate.apply(x, rows, d)
        return x

    def build(self, step: Sequence[Segment | None]) -> Batch:
        b, seg = len(step), self.seg
        # numpy, single-threaded: no OpenMP team to contend with the model's threads.
        x = np.empty((b, seg, self.input_dim), np.float32)
        y = np.full((b, seg), -1, np.int64)
        mask = np.zeros((b, seg), bool)
        reset = np.ones(b, bool)
        extra = {task: np.full((b, seg, v.shape[1]), np.nan if task == "va" else -1, np.float32)
                 for task, v in self.bank.targets.items()}
        for k, s in enumerate(step):
            n = 0 if s is None else s.length
            if n < seg:
                x[k, n:] = 0.0  # padding (and idle slots) hold zeros
            if s is None:
                continue
            r = self.frame_rows(s)
            self.inputs(s.track, r, out=x[k, :n])
            y[k, :n] = self.bank.labels[self._bank_rows(s.track, r)]
            mask[k, :n] = True
            reset[k] = s.first
            for task, t in extra.items():
                t[k, :n] = self.bank.targets[task][self._bank_rows(s.track, r)]
            if self.pad == "repeat" and 0 < n < seg:  # the final frame again, as real input
                x[k, n:], y[k, n:], mask[k, n:] = x[k, n - 1], y[k, n - 1], True
                for t in extra.values():
                    t[k, n:] = t[k, n - 1]
        xt = torch.from_numpy(x)
        return Batch(xt.pin_memory() if self.pin else xt, torch.from_numpy(y), torch.from_numpy(mask),
                     torch.from_numpy(reset), list(step), {task: torch.from_numpy(t) for task, t in extra.items()})


class Prefetcher(Ahead[Batch]):
    """Batches of ``steps`` built on a background thread, ``depth`` ahead (the core's one
    prefetcher); ``wait_s`` is the time the consumer waited: near zero when loading hides behind
    compute."""

    def __init__(self, builder: BatchBuilder, steps: Iterable[Step], depth: int = 2):
        super().__init__(lambda: (builder.build(step) for step in steps), depth, name="exprnet-prefetch")
