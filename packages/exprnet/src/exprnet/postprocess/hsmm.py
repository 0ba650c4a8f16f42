"""``hsmm``: a hidden semi-Markov model, each expression with an explicit duration distribution.

The duration of a class-c segment has a per-frame hazard ``h_c(d)`` (the probability that a
segment which has lasted d frames ends there), estimated on the training runs for d = 1..D-1
(:func:`duration_hazards`: the Kaplan-Meier estimate, runs cut by a -1 frame or a track end
counted as censored), and a constant hazard from D on (a geometric tail, its maximum-likelihood
value from the runs at least D long). A segment that ends enters another class by ``switch``
(the training chain's class changes; never the same class). Decoding runs over the states
(class, frames so far) with one vectorised loop over frames for all tracks together (numpy over
tracks, classes and durations): the Viterbi path as ``labels``, the forward-backward class
marginals of the same model as ``probs`` (their argmax need not equal the path).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError
from .chain import balanced_transitions, frame_shares, label_runs, transition_counts
from .priors import log_emissions
from .processor import Decoded, param_array, register

MAX_DURATION = 32  # D: hazards per frame up to here, a constant one after


def duration_hazards(labels: Sequence[np.ndarray], n: int, d_max: int = MAX_DURATION, pseudo: float = 2.0
                     ) -> np.ndarray:
    """(n, D) hazards per class; each class's counts shrunk towards the pooled ones by ``pseudo`` runs."""
    runs = label_runs(labels)

    def hazards(lengths: np.ndarray, censored: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = np.arange(1, d_max)
        at_risk = (lengths[None, :] >= d[:, None]).sum(1).astype(np.float64)
        ended = ((lengths[None, :] == d[:, None]) & ~censored[None, :]).sum(1).astype(np.float64)
        long = lengths >= d_max  # the tail: frames spent from D on, and how many of them ended
        ended = np.r_[ended, float((long & ~censored).sum())]
        at_risk = np.r_[at_risk, float((lengths[long] - d_max + 1).sum())]
        return ended, at_risk

    e_all, r_all = hazards(runs.lengths, runs.censored)
    pooled = (e_all + 0.5) / (r_all + 1.0)
    out = np.empty((n, d_max))
    for c in range(n):
        sel = runs.classes == c
        e, r = hazards(runs.lengths[sel], runs.censored[sel])
        out[c] = (e + pseudo * pooled) / (r + pseudo)
    return np.clip(out, 1e-6, 1 - 1e-6)


def switch_matrix(labels: Sequence[np.ndarray], n: int, pseudo: float = 1.0) -> np.ndarray:
    """Where a segment that ends goes: class changes counted over consecutive labelled frames."""
    counts = transition_counts(labels, n).astype(np.float64) + pseudo
    np.fill_diagonal(counts, 0.0)
    return counts / counts.sum(1, keepdims=True)


def _frames(tracks: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Tracks by descending length: their order, offsets in the flat array, and how many run at each t."""
    lengths = np.array([len(x) for x in tracks], np.int64)
    order = np.argsort(-lengths, kind="stable")
    lens = lengths[order]
    offsets = np.r_[0, np.cumsum(lens)[:-1]].astype(np.int64)
    running = np.searchsorted(-lens, -np.arange(int(lens[0]) if len(lens) else 0), side="left")
    return order, lens, offsets, running


def _unsort(flat: np.ndarray, order: np.ndarray, lens: np.ndarray) -> list[np.ndarray]:
    pieces = np.split(flat, np.cumsum(lens)[:-1])
    out: list[np.ndarray] = [flat[:0]] * len(order)
    for k, i in enumerate(order):
        out[i] = pieces[k]
    return out


@dataclass(frozen=True)
class HSMMDecoder:
    """A fitted ``hsmm`` decoder; every parameter it applies is a field (``to_dict`` holds them)."""

    initial: np.ndarray  # (C,): class of the first segment
    switch: np.ndarray  # (C, C): class after a segment ends (zero diagonal), ``balance`` applied
    hazard: np.ndarray  # (C, D): P(segment ends after d frames | it lasted d), d = 1..D (D on: constant)
    prior: np.ndarray  # (C,): the emissions' divisor
    weight: float
    balance: float = 0.0
    kind: str = "hsmm"

    def apply(self, probs: np.ndarray) -> Decoded:
        return self.apply_many([probs])[0]

    def apply_many(self, tracks: Sequence[np.ndarray]) -> list[Decoded]:
        if sum(len(t) for t in tracks) == 0:
            return [Decoded(np.zeros((0, len(self.prior)), np.float32), np.zeros(0, np.int64)) for _ in tracks]
        le = [log_emissions(p, self.prior, self.weight) for p in tracks]
        order, lens, offsets, running = _frames(le)
        e = np.concatenate([le[i] for i in order])
        with np.errstate(divide="ignore"):
            path = self._viterbi(e, offsets, running)
        post = self._posteriors(e, offsets, running)
        return [Decoded(q.astype(np.float32), p) for q, p in
                zip(_unsort(post, order, lens), _unsort(path, order, lens), strict=True)]

    def paths(self, tracks: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Only the Viterbi path of each track (what scoring needs; no marginals)."""
        if sum(len(t) for t in tracks) == 0:
            return [np.zeros(0, np.int64) for _ in tracks]
        le = [log_emissions(p, self.prior, self.weight) for p in tracks]
        order, lens, offsets, running = _frames(le)
        with np.errstate(divide="ignore"):
            path = self._viterbi(np.concatenate([le[i] for i in order]), offsets, running)
        return _unsort(path, order, lens)

    def _viterbi(self, e: np.ndarray, offsets: np.ndarray, running: np.ndarray) -> np.ndarray:
        c, dm = self.hazard.shape
        end, stay, lsw = np.log(self.hazard), np.log1p(-self.hazard), np.log(self.switch)
        s = np.full((len(offsets), c, dm), -np.inf)  # score of (class, frames so far, capped at D)
        s[:, :, 0] = np.log(self.initial)[None] + e[offsets]
        exit_d = np.zeros((len(e), c), np.int8)  # per frame: the duration a class's best ending had
        came = np.zeros((len(e), c), np.int8)  # per frame: the class a new segment came from
        tail = np.zeros((len(e), c), bool)  # per frame: the tail state came from itself (not from D-1)
        for t in range(1, len(running)):
            k = running[t]
            rows = offsets[:k] + t
            cur = s[:k]
            ends = cur + end[None]
            exit_d[rows] = ends.argmax(2)
            best_end = ends.max(2)  # (k, C): best way for each class's segment to end at t-1
            enter = best_end[:, :, None] + lsw[None]  # (k, from, to)
            came[rows] = enter.argmax(1)
            nxt = np.empty_like(cur)
            nxt[:, :, 0] = enter.max(1)
            nxt[:, :, 1:dm - 1] = cur[:, :, : dm - 2] + stay[None, :, : dm - 2]
            grow, keep = cur[:, :, dm - 2] + stay[None, :, dm - 2], cur[:, :, dm - 1] + stay[None, :, dm - 1]
            tail[rows] = keep > grow
            nxt[:, :, dm - 1] = np.maximum(grow, keep)
            s[:k] = nxt + e[rows][:, :, None]
        path = np.zeros(len(e), np.int64)
        flat = s.reshape(len(offsets), -1).argmax(1)
        cls, dur = flat // dm, flat % dm
        for t in range(len(running) - 1, -1, -1):
            k = running[t]
            rows = offsets[:k] + t
            path[rows] = cls[:k]
            if not t:
                break
            new = dur[:k] == 0
            from_cls = came[rows, cls[:k]]
            d_new = exit_d[rows, from_cls]
            in_tail = (dur[:k] == dm - 1) & tail[rows, cls[:k]]
            dur[:k] = np.where(new, d_new, np.where(in_tail, dm - 1, dur[:k] - 1))
            cls[:k] = np.where(new, from_cls, cls[:k])
        return path

    def _posteriors(self, le: np.ndarray, offsets: np.ndarray, running: np.ndarray) -> np.ndarray:
        c, dm = self.hazard.shape
        e = np.exp(le - le.max(1, keepdims=True))
        h, g = self.hazard, 1.0 - self.hazard

        def step(a: np.ndarray) -> np.ndarray:  # (k, C, D) at t-1 -> before the emission at t
            out = np.empty_like(a)
            out[:, :, 0] = (a * h[None]).sum(2) @ self.switch
            out[:, :, 1:dm - 1] = a[:, :, : dm - 2] * g[None, :, : dm - 2]
            out[:, :, dm - 1] = a[:, :, dm - 2] * g[None, :, dm - 2] + a[:, :, dm - 1] * g[None, :, dm - 1]
            return out

        def back(b: np.ndarray) -> np.ndarray:  # (k, C, D) message at t -> at t-1 (emission at t included)
            out = np.empty_like(b)
            entered = b[:, :, 0] @ self.switch.T  # (k, C): next segment's start, from class i
            out[:, :, : dm - 1] = h[None, :, : dm - 1] * entered[:, :, None] + g[None, :, : dm - 1] * b[:, :, 1:]
            out[:, :, dm - 1] = h[None, :, dm - 1] * entered + g[None, :, dm - 1] * b[:, :, dm - 1]
            return out

        alpha = np.zeros((len(le), c, dm))
        a = np.zeros((len(offsets), c, dm))
        a[:, :, 0] = self.initial[None] * e[offsets]
        a /= a.sum((1, 2), keepdims=True)
        alpha[offsets] = a
        for t in range(1, len(running)):
            k = running[t]
            rows = offsets[:k] + t
            nxt = step(a[:k]) * e[rows][:, :, None]
            a[:k] = nxt / nxt.sum((1, 2), keepdims=True)
            alpha[rows] = a[:k]
        b = np.ones((len(offsets), c, dm))
        for t in range(len(running) - 1, -1, -1):
            k = running[t]
            rows = offsets[:k] + t
            alpha[rows] *= b[:k]
            if t:
                nb = back(b[:k] * e[rows][:, :, None])
                b[:k] = nb / nb.sum((1, 2), keepdims=True)
        out = alpha.sum(2)
        return out / out.sum(1, keepdims=True)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "weight": float(self.weight), "balance": float(self.balance),
                "initial": self.initial.tolist(), "switch": self.switch.tolist(), "hazard": self.hazard.tolist(),
                "prior": self.prior.tolist()}

    def describe(self) -> str:
        longer = np.prod(1 - self.hazard[:, :-1], 1)  # P(a segment lasts D frames or more), per class
        return (f"hsmm (explicit durations up to {self.hazard.shape[1]} frames, geometric beyond; emission weight "
                f"{self.weight:g}, balance {self.balance:g}; P(segment >= D) {longer.min():.2f}-{longer.max():.2f})")


@register("hsmm")
def _load_hsmm(d: dict[str, Any]) -> HSMMDecoder:
    n = len(d.get("initial") or [])
    hz = np.asarray(d.get("hazard"), np.float64)
    if n == 0 or hz.ndim != 2 or hz.shape[0] != n or hz.shape[1] < 2 or not ((hz > 0) & (hz < 1)).all():
        raise ConfigError("post-processing hsmm: hazard", f"expected ({n}, D >= 2) numbers strictly between 0 and 1")
    return HSMMDecoder(param_array(d, "initial", (n,)), param_array(d, "switch", (n, n)), hz, param_array(d, "prior", (n,)),
                       float(d["weight"]), float(d.get("balance", 0.0)))


def fit_hsmm(labels: Sequence[np.ndarray], prior: np.ndarray, weight: float, balance: float = 0.0,
             d_max: int = MAX_DURATION) -> HSMMDecoder:
    """The ``hsmm`` decoder of the segments in ``labels`` (training tracks' label sequences)."""
    n = len(prior)
    shares = frame_shares(labels, n)
    sw = switch_matrix(labels, n)
    sw = balanced_transitions(sw, shares, balance)  # its zero diagonal stays zero
    init = shares ** (1.0 - balance)
    return HSMMDecoder(init / init.sum(), sw, duration_hazards(labels, n, d_max), np.asarray(prior, np.float64)
                       / np.sum(prior), float(weight), float(balance))
