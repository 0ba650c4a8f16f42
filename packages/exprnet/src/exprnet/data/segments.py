"""Which rows go into which batch: plain lists of :class:`Segment`, no tensors.

- LSTM (:func:`stream_plan`): ``batch_size`` slots; each slot walks its tracks' segments in order
  (length ``l``, stride ``l``), so the state at the end of segment i starts segment i+1 of the same
  track; ``first`` marks a track's first segment (state reset to zero).
- Transformer training (:func:`shuffled_segments`): segments of length ``l`` and stride ``p`` from
  all tracks, shuffled and cut into batches.
- Transformer inference (:func:`inference_plan`): with stride ``s < l``, overlapping segments
  covering every frame (the last one ends at the track's end; per-frame outputs are averaged over
  the segments that hold the frame); with ``s = l``, non-overlapping segments as in training (the
  paper, the authors' code), the last one shorter and padded.

With ``phase`` (training, ``train.segment_jitter``) a track's segments start at a random offset
each epoch (its first ``phase`` rows form a shorter first segment), so an expression lands in new
contexts and at new positions within its segment from epoch to epoch instead of on a fixed grid.

Positions and lengths count the rows of a track's *view*: all its rows, or (``data.unlabelled:
drop``) only its labelled ones; :class:`~exprnet.data.batches.BatchBuilder` maps them to bank rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class Segment:
    track: int  # index into the bank
    start: int  # first row within the track
    length: int  # real rows (<= segment length; the rest of the slot is padding)
    first: bool = False  # the track's first segment: start from a zero state


Step = list[Segment | None]  # one batch: a segment (or an idle slot) per batch position


def track_segments(track: int, n: int, seg: int, stride: int | None = None, phase: int = 0) -> list[Segment]:
    """Segments of one track of ``n`` rows; the last one may be shorter than ``seg``. With
    ``0 < phase < n`` (``phase <= seg``) rows ``[0, phase)`` form the first segment and the grid
    starts at ``phase``."""
    stride = stride or seg
    if 0 < phase < n:
        if phase > seg:
            raise ValueError(f"phase {phase} exceeds the segment length {seg}")
        rest = track_segments(track, n - phase, seg, stride)
        return [Segment(track, 0, phase, first=True)] + [
            replace(s, start=s.start + phase, first=False) for s in rest]
    starts = list(range(0, max(n - seg, 0) + 1, stride)) if n > 0 else []
    if n > seg and starts[-1] + seg < n:
        starts.append(starts[-1] + stride if stride == seg else n - seg)
    return [Segment(track, s, min(seg, n - s), first=(k == 0)) for k, s in enumerate(starts)]


def overlapping_segments(track: int, n: int, seg: int, stride: int) -> list[Segment]:
    """Every frame covered; when ``n > seg`` the last segment ends exactly at the track's end."""
    if n <= seg:
        return [Segment(track, 0, n, first=True)] if n > 0 else []
    starts = list(range(0, n - seg + 1, stride))
    if starts[-1] + seg < n:
        starts.append(n - seg)
    return [Segment(track, s, seg, first=(k == 0)) for k, s in enumerate(starts)]


def _phases(lengths: Mapping[int, int], stride: int, rng: np.random.Generator | None) -> dict[int, int]:
    """A random grid offset in ``[0, stride)`` per track, or none (``rng`` None)."""
    return {t: int(rng.integers(0, stride)) if rng is not None else 0 for t in lengths}


def stream_plan(lengths: Mapping[int, int], batch_size: int, seg: int,
                rng: np.random.Generator | None = None, jitter: bool = False) -> list[Step]:
    """LSTM batches: tracks dealt to ``min(batch_size, tracks)`` slots, each slot in track order.

    With ``rng`` the track order is shuffled (training); without it, longest tracks go first
    (inference, balanced). Tracks go to the slot with the fewest segments so far. ``jitter`` (with
    ``rng``): each track's segments start at a random phase.
    """
    ids = [t for t, n in lengths.items() if n > 0]
    if not ids:
        return []
    if rng is not None:
        ids = [ids[k] for k in rng.permutation(len(ids))]
    else:
        ids = sorted(ids, key=lambda t: (-lengths[t], t))
    phase = _phases(lengths, seg, rng if jitter else None)
    slots: list[list[Segment]] = [[] for _ in range(min(batch_size, len(ids)))]
    for t in ids:
        k = min(range(len(slots)), key=lambda j: len(slots[j]))
        slots[k].extend(track_segments(t, lengths[t], seg, phase=phase[t]))
    steps = max(len(s) for s in slots)
    return [[s[i] if i < len(s) else None for s in slots] for i in range(steps)]


def shuffled_segments(lengths: Mapping[int, int], batch_size: int, seg: int, stride: int,
                      rng: np.random.Generator, keep: Callable[[Segment], bool] | None = None,
                      jitter: bool = False,
                      draw: Callable[[list[Segment], np.random.Generator], list[Segment]] | None = None
                      ) -> list[Step]:
    """Transformer training batches; ``keep`` can drop segments (e.g. those holding no
    labelled frame, which carry no loss); ``jitter``: each track's grid at a random phase;
    ``draw``: the epoch's segments drawn from the kept ones (default: each once, shuffled)."""
    phase = _phases(lengths, stride, rng if jitter else None)
    segs = [s for t, n in lengths.items() for s in track_segments(t, n, seg, stride, phase[t])]
    if keep is not None:
        segs = [s for s in segs if keep(s)]
    segs = draw(segs, rng) if draw is not None else [segs[k] for k in rng.permutation(len(segs))]
    return [list(segs[i:i + batch_size]) for i in range(0, len(segs), batch_size)]


def inference_plan(lengths: Mapping[int, int], batch_size: int, seg: int, stride: int) -> list[Step]:
    """Transformer inference batches: overlapping segments if ``stride < seg``, else back to back."""
    cut = overlapping_segments if stride < seg else (lambda t, n, seg, stride: track_segments(t, n, seg))
    segs = [s for t, n in lengths.items() for s in cut(t, n, seg, stride)]
    return [list(segs[i:i + batch_size]) for i in range(0, len(segs), batch_size)]
