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

from ..data.segments import Segment
from .losses import class_counts, class_weight_vector

POWERS = {"balanced": 1.0, "sqrt": 0.5}  # train.sampling -> the power of a segment's weight


class SegmentSampler:
    """``labels_of(segment)``: the segment's labels (-1 unlabelled); ``counts``: the training
    split's labelled frames per class; ``power``: a segment is drawn in proportion to its
    :meth:`weight` to this power (:data:`POWERS`)."""

    def __init__(self, labels_of: Callable[[Segment], np.ndarray], counts: np.ndarray, power: float = 1.0):
        self.labels_of, self.power = labels_of, power
        self.class_w = class_weight_vector(counts, "balanced")

    def _frames(self, segs: Sequence[Segment]) -> np.ndarray:
        """(segments, classes): each segment's labelled frames per class."""
        return np.array([class_counts([self.labels_of(s)]) for s in segs]).reshape(len(segs), len(self.class_w))

    def _weights(self, frames: np.ndarray) -> np.ndarray:
        n = frames.sum(1)
        return np.divide(frames @ self.class_w, n, out=np.zeros(len(n)), where=n > 0)

    def _probabilities(self, frames: np.ndarray) -> np.ndarray:
        w = self._weights(frames) ** self.power
        if not w.sum() > 0:
            raise ValueError("no training segment holds a labelled frame")
        return w / w.sum()

    def weight(self, s: Segment) -> float:
        """Mean balanced class weight over the segment's labelled frames (0: none labelled)."""
        return float(self._weights(self._frames([s]))[0])

    def probabilities(self, segs: Sequence[Segment]) -> np.ndarray:
        return self._probabilities(self._frames(segs))

    def draw(self, segs: Sequence[Segment], rng: np.random.Generator) -> list[Segment]:
        """As many segments as given, with replacement, in drawn order."""
        k = rng.choice(len(segs), size=len(segs), p=self.probabilities(segs))
        return [segs[i] for i in k]

    def expected_counts(self, segs: Sequence[Segment]) -> np.ndarray:
        """Labelled frames per class that one epoch's draw holds on average."""
        frames = self._frames(segs)
        return len(segs) * self._probabilities(frames) @ frames
