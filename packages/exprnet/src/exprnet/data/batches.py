"""Segments -> tensors: gather rows from the float16 bank, convert and standardise per batch.

Each batch slot is one contiguous row range of the bank, so a batch is ``batch_size`` slice
conversions (float16 -> standardised float32, one fused pass each); no per-frame Python work.
:class:`Prefetcher` builds the next batches in a background thread while the model computes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from featurizer.core.ahead import Ahead

from .bank import FeatureBank, Standardizer
from .normalize import Normalizer
from .segments import Segment, Step


@dataclass
class Batch:
    x: torch.Tensor  # (B, L, D_in) float32, standardised (+ present flags)
    y: torch.Tensor  # (B, L) int64; -1 = no loss (unlabelled or padding)
    mask: torch.Tensor  # (B, L) bool, real rows
    reset: torch.Tensor  # (B,) bool, start the slot from a zero state
    segments: list[Segment | None]

    @property
    def frames(self) -> int:
        return int(self.mask.sum())

    def to(self, device: torch.device) -> Batch:
        nb = device.type == "cuda"
        return Batch(self.x.to(device, non_blocking=nb), self.y.to(device, non_blocking=nb),
                     self.mask.to(device, non_blocking=nb), self.reset.to(device, non_blocking=nb),
                     self.segments)

    def describe(self, bank: FeatureBank) -> str:
        parts = [f"{bank.tracks[s.track]}[{s.start}:{s.start + s.length}]" for s in self.segments if s]
        return ", ".join(parts[:6]) + (f", ... ({len(parts)} segments)" if len(parts) > 6 else "")


def flag_columns(bank: FeatureBank, mode: str) -> list[list[int]]:
    """Present-flag inputs: per feature, per modality (all its features present), or none."""
    if mode == "none":
        return []
    if mode == "feature":
        return [[j] for j in range(len(bank.features))]
    groups: dict[str, list[int]] = {}
    for j, m in enumerate(bank.modalities):
        groups.setdefault(m, []).append(j)
    return [groups[m] for m in sorted(groups)]


def input_dim(bank_dim: int, n_flags: int) -> int:
    return bank_dim + n_flags


class BatchBuilder:
    def __init__(self, bank: FeatureBank, stats: Standardizer, seg: int, present_flags: str = "none",
                 pin_memory: bool = False, normalize: str = "train"):
        if list(stats.features) != list(bank.features) or list(stats.dims) != list(bank.dims):
            raise ValueError("statistics were fitted on other features than the bank holds")
        self.bank, self.seg = bank, seg
        self.norm = Normalizer(bank, stats, normalize)  # type: ignore[arg-type]
        self.flags = flag_columns(bank, present_flags)
        self.pin = pin_memory

    @property
    def input_dim(self) -> int:
        return input_dim(self.bank.dim, len(self.flags))

    def rows(self, track: int, start: int, n: int, out: np.ndarray | None = None) -> np.ndarray:
        """Model inputs of ``n`` rows of a track from ``start``: (n, input_dim) float32."""
        d = self.bank.dim
        x = np.empty((n, self.input_dim), np.float32) if out is None else out
        a = int(self.bank.offsets[track]) + start
        inv, shift = self.norm.affine(track)
        np.multiply(self.bank.values[a:a + n], inv, out=x[:, :d])  # float16 rows -> float32
        x[:, :d] += shift  # normalised (data.normalize), only the rows asked for
        for c, cols in enumerate(self.flags):
            x[:, d + c] = self.bank.present[a:a + n, cols].all(axis=1)
        return x

    def build(self, step: Sequence[Segment | None]) -> Batch:
        b, seg = len(step), self.seg
        # numpy, single-threaded: no OpenMP team to contend with the model's threads.
        x = np.empty((b, seg, self.input_dim), np.float32)
        y = np.full((b, seg), -1, np.int64)
        mask = np.zeros((b, seg), bool)
        reset = np.ones(b, bool)
        for k, s in enumerate(step):
            n = 0 if s is None else s.length
            if n < seg:
                x[k, n:] = 0.0  # padding (and idle slots) hold zeros
            if s is None:
                continue
            a = int(self.bank.offsets[s.track]) + s.start
            self.rows(s.track, s.start, n, out=x[k, :n])
            y[k, :n] = self.bank.labels[a:a + n]
            mask[k, :n] = True
            reset[k] = s.first
        xt = torch.from_numpy(x)
        return Batch(xt.pin_memory() if self.pin else xt, torch.from_numpy(y), torch.from_numpy(mask),
                     torch.from_numpy(reset), list(step))


class Prefetcher(Ahead[Batch]):
    """Batches of ``steps`` built on a background thread, ``depth`` ahead (the core's one
    prefetcher); ``wait_s`` is the time the consumer waited: near zero when loading hides behind
    compute."""

    def __init__(self, builder: BatchBuilder, steps: Iterable[Step], depth: int = 2):
        super().__init__(lambda: (builder.build(step) for step in steps), depth, name="exprnet-prefetch")
