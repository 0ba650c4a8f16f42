"""Segments -> tensors: gather rows from the float16 bank, convert and standardise per batch.

Each batch slot is one contiguous row range of the bank, so a batch is ``batch_size`` slice
copies (half -> float in torch) plus one in-place standardisation; no per-frame Python work.
:class:`Prefetcher` builds the next batches in a background thread while the model computes.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .bank import FeatureBank, Standardizer
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
                 pin_memory: bool = False):
        if list(stats.features) != list(bank.features) or list(stats.dims) != list(bank.dims):
            raise ValueError("statistics were fitted on other features than the bank holds")
        self.bank, self.seg = bank, seg
        self.values = torch.from_numpy(bank.values)  # shares memory, float16
        self.labels = torch.from_numpy(bank.labels.astype(np.int64, copy=False))
        self.mean = torch.from_numpy(stats.mean)
        self.inv_std = torch.from_numpy(1.0 / stats.std)
        self.flags = flag_columns(bank, present_flags)
        self.pin = pin_memory

    @property
    def input_dim(self) -> int:
        return input_dim(self.bank.dim, len(self.flags))

    def build(self, step: Sequence[Segment | None]) -> Batch:
        b, seg, d = len(step), self.seg, self.bank.dim
        x = torch.zeros((b, seg, self.input_dim), dtype=torch.float32, pin_memory=self.pin)
        y = torch.full((b, seg), -1, dtype=torch.int64)
        mask = torch.zeros((b, seg), dtype=torch.bool)
        reset = torch.ones(b, dtype=torch.bool)
        feats = x[..., :d]
        for k, s in enumerate(step):
            if s is None:
                continue
            a = int(self.bank.offsets[s.track]) + s.start
            n = s.length
            feats[k, :n].copy_(self.values[a:a + n])
            y[k, :n] = self.labels[a:a + n]
            mask[k, :n] = True
            reset[k] = s.first
            for c, cols in enumerate(self.flags):
                pr = self.bank.present[a:a + n, cols].all(axis=1)
                x[k, :n, d + c] = torch.from_numpy(pr.astype(np.float32))
        feats.sub_(self.mean).mul_(self.inv_std)
        feats.masked_fill_(~mask[..., None], 0.0)
        return Batch(x, y, mask, reset, list(step))


class Prefetcher:
    """Iterate batches built in a background thread, ``depth`` ahead; records the time the
    consumer waited (``wait_s``): near zero when loading hides behind compute."""

    _END = object()

    def __init__(self, builder: BatchBuilder, steps: Iterable[Step], depth: int = 2):
        self.builder, self.steps, self.depth = builder, steps, depth
        self.wait_s = 0.0
        self._stop = threading.Event()

    def __iter__(self) -> Iterator[Batch]:
        if self.depth <= 0:
            for step in self.steps:
                t = time.perf_counter()
                batch = self.builder.build(step)
                self.wait_s += time.perf_counter() - t
                yield batch
            return
        q: queue.Queue = queue.Queue(maxsize=self.depth)

        def put(item: object) -> bool:
            while not self._stop.is_set():
                try:
                    q.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def produce() -> None:
            try:
                for step in self.steps:
                    if self._stop.is_set() or not put(self.builder.build(step)):
                        return
                put(self._END)
            except BaseException as e:  # re-raised in the consumer
                put(e)

        th = threading.Thread(target=produce, name="exprnet-prefetch", daemon=True)
        th.start()
        try:
            while True:
                t = time.perf_counter()
                item = q.get()
                self.wait_s += time.perf_counter() - t
                if item is self._END:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self._stop.set()
            th.join(timeout=5)
