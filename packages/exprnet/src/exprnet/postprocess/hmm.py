"""``viterbi``: a first-order HMM over the classes, its exact decoding, vectorised over time.

The chain comes from training label sequences (:mod:`.chain`): the transition matrix counted over
consecutive labelled frames, the initial distribution the labelled frame shares (a track starts at
a random moment of the chain). The emission of frame t for class c is
``(p_t(c) / prior(c)) ** weight``: ``prior`` is the class prior the model's probabilities were
trained towards (:func:`exprnet.postprocess.priors.trained_prior`: uniform after balanced class
weights, so the division changes nothing there), ``weight`` counts the evidence of frames that are
not independent given their class (1: as if they were). ``balance`` reweights where a class change
goes, by ``share ** -balance`` (0: the training chain; 1: every class entered alike, as the mean
per-class F1 weighs them); the initial distribution gets ``share ** (1 - balance)``.

``apply`` returns the Viterbi path as ``labels`` and the forward-backward marginals of the same
HMM as ``probs``: a posterior per frame, whose argmax need not equal the path (the path is the best
sequence, the marginals the best frame by frame).

The decoding itself (exact, vectorised over tracks and time) is :mod:`.hmm_inference`.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError
from .chain import balanced_transitions, frame_shares, transition_matrix
from .hmm_inference import posteriors, viterbi
from .priors import log_emissions
from .processor import Decoded, param_array, register


@dataclass(frozen=True)
class HMMDecoder:
    """A fitted ``viterbi`` decoder; every parameter it applies is a field (``to_dict`` holds them)."""

    initial: np.ndarray  # (C,)
    transition: np.ndarray  # (C, C), rows sum to 1, ``balance`` already applied
    prior: np.ndarray  # (C,): the emissions' divisor
    weight: float
    balance: float = 0.0  # recorded; already in ``initial`` and ``transition``
    kind: str = "viterbi"

    def apply(self, probs: np.ndarray) -> Decoded:
        return self.apply_many([probs])[0]

    def apply_many(self, tracks: Sequence[np.ndarray]) -> list[Decoded]:
        """Each track decoded from its own start, all in one vectorised pass."""
        le = [log_emissions(p, self.prior, self.weight) for p in tracks]
        post = posteriors(le, self.initial, self.transition)
        paths = viterbi(le, self.initial, self.transition)
        return [Decoded(q.astype(np.float32), p) for q, p in zip(post, paths, strict=True)]

    def paths(self, tracks: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Only the Viterbi path of each track (what scoring needs; no marginals)."""
        return viterbi([log_emissions(p, self.prior, self.weight) for p in tracks], self.initial, self.transition)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "weight": float(self.weight), "balance": float(self.balance),
                "initial": self.initial.tolist(), "transition": self.transition.tolist(), "prior": self.prior.tolist()}

    def describe(self) -> str:
        stay = np.diag(self.transition)
        return (f"viterbi (HMM over the classes, emission weight {self.weight:g}, balance {self.balance:g}, "
                f"self-transition {stay.min():.4f}-{stay.max():.4f})")


@register("viterbi")
def _load_hmm(d: dict[str, Any]) -> HMMDecoder:
    n = len(d.get("initial") or [])
    trans = param_array(d, "transition", (n, n))
    if n == 0 or not np.allclose(trans.sum(1), 1.0, atol=1e-6):
        raise ConfigError("post-processing viterbi: transition", "rows must sum to 1")
    return HMMDecoder(param_array(d, "initial", (n,)), trans, param_array(d, "prior", (n,)), float(d["weight"]),
                      float(d.get("balance", 0.0)))


def fit_hmm(labels: Sequence[np.ndarray], prior: np.ndarray, weight: float, balance: float = 0.0) -> HMMDecoder:
    """The ``viterbi`` decoder of the chain in ``labels`` (training tracks' label sequences)."""
    shares = frame_shares(labels, len(prior))
    trans = balanced_transitions(transition_matrix(labels, len(prior)), shares, balance)
    init = shares ** (1.0 - balance)
    return HMMDecoder(init / init.sum(), trans, np.asarray(prior, np.float64) / np.sum(prior), float(weight),
                      float(balance))
