"""Class-balanced segment sampling (``train.sampling: balanced``).

Class weights alone reach a balanced objective by multiplying a rare class's few frames by a
large factor (Fear at 2% of the frames: about 6x), so each step's gradient depends on whether
the batch happens to hold one of those frames. Resampling reaches the same objective with
steadier steps (An et al., 2021, "Resampling vs reweighting"): each epoch draws as many training
segments as there are, with replacement, each with probability proportional to the mean balanced
weight of its labelled frames; the loss's class weights are then computed from the class counts
that draw gives in expectation (:meth:`SegmentSampler.expected_counts`), so
``loss.class_weights: balanced`` still balances the classes, with factors near 1.
``train.sampling: sqrt`` draws by the square root of that weight: half way, in log terms, between
the plain epoch and the balanced draw (rare segments repeated less, more distinct segments seen).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..config import N_CLASSES
from ..losses import class_weight_vector
from .segments import Segment


class SegmentSampler:
    """``labels_of(segment)``: the segment's labels (-1 unlabelled); ``counts``: the training
    split's labelled frames per class; ``power``: a segment is drawn in proportion to its
    :meth:`weight` to this power (1: balanced, 0.5: sqrt)."""

    def __init__(self, labels_of: Callable[[Segment], np.ndarray], counts: np.ndarray, power: float = 1.0):
        self.labels_of, self.power = labels_of, power
        self.class_w = class_weight_vector(counts, "balanced")

    def weight(self, s: Segment) -> float:
        """Mean balanced class weight over the segment's labelled frames (0: none labelled)."""
        y = self.labels_of(s)
        y = y[y >= 0]
        return float(self.class_w[y].mean()) if len(y) else 0.0

    def probabilities(self, segs: Sequence[Segment]) -> np.ndarray:
        w = np.array([self.weight(s) for s in segs], np.float64) ** self.power
        if not w.sum() > 0:
            raise ValueError("no training segment holds a labelled frame")
        return w / w.sum()

    def draw(self, segs: Sequence[Segment], rng: np.random.Generator) -> list[Segment]:
        """As many segments as given, with replacement, in drawn order."""
        k = rng.choice(len(segs), size=len(segs), p=self.probabilities(segs))
        return [segs[i] for i in k]

    def expected_counts(self, segs: Sequence[Segment]) -> np.ndarray:
        """Labelled frames per class that one epoch's draw holds on average."""
        p = self.probabilities(segs) * len(segs)
        out = np.zeros(N_CLASSES)
        for s, ps in zip(segs, p, strict=True):
            y = self.labels_of(s)
            out += ps * np.bincount(y[y >= 0].astype(np.int64), minlength=N_CLASSES)[:N_CLASSES]
        return out
