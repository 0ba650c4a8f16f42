"""Per-frame class probabilities for whole tracks (eval mode).

LSTM: every track walked segment by segment with the state carried, i.e. exactly one pass over
the whole track. Transformer: segments of ``model.segment`` frames at stride ``model.infer_stride``:
overlapping (probabilities averaged per frame over the segments that hold it) when it is smaller,
back to back (the paper) when it equals the segment. Tracks are walked through the builder's
views: with ``data.unlabelled: drop`` only the labelled frames of a labelled track get
probabilities (the others stay zero).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

import numpy as np
import torch

from ..config import N_CLASSES, ModelConfig
from ..data.bank import FeatureBank
from ..data.batches import BatchBuilder, Prefetcher
from ..data.segments import inference_plan, stream_plan
from . import ExprNet


def autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    """Training's precision (:class:`~exprnet.training.precision.MixedPrecision`): bf16 or fp16 on CUDA."""
    from ..training.precision import MixedPrecision

    return MixedPrecision.choose(device, enabled).autocast()


@torch.no_grad()
def predict_probs(model: ExprNet, builder: BatchBuilder, bank: FeatureBank, ids: Sequence[int],
                  cfg: ModelConfig, batch_size: int, device: torch.device, amp: bool = False,
                  prefetch: int = 2, on_batch: Callable[[int, int], None] | None = None
                  ) -> dict[int, np.ndarray]:
    """Track index -> (n, 8) float32 probabilities (multi-task: (n, model.n_outputs), each task's
    predictions at ``model.slices``); ``on_batch(done, total)`` after each batch."""
    model.eval()
    lengths = {i: builder.length(i) for i in ids}
    width = getattr(model, "n_outputs", N_CLASSES)
    sums = {i: np.zeros((bank.length(i), width), np.float32) for i in ids}
    counts = {i: np.zeros(bank.length(i), np.float32) for i in ids}
    assert cfg.segment is not None and cfg.infer_stride is not None
    if model.stateful:
        plan = stream_plan(lengths, batch_size, cfg.segment)
    else:
        plan = inference_plan(lengths, batch_size, cfg.segment, cfg.infer_stride)
    state = None
    for k_batch, batch in enumerate(Prefetcher(builder, plan, prefetch), start=1):
        b = batch.to(device)
        with autocast(device, amp):
            logits, state = model(b.x, b.mask, state, b.reset)
        probs = model.to_probs(logits).cpu().numpy()  # a blended run's: the blend (:mod:`.blend`)
        for k, s in enumerate(batch.segments):
            if s is None:
                continue
            rows = builder.frame_rows(s)
            sums[s.track][rows] += probs[k, :s.length]
            counts[s.track][rows] += 1
        if on_batch:
            on_batch(k_batch, len(plan))
    return {i: sums[i] / np.maximum(counts[i], 1)[:, None] for i in lengths}
