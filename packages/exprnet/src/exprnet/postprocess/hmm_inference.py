"""Exact Viterbi paths and forward-backward marginals of an HMM over many tracks at once.

Both (:func:`viterbi`, :func:`posteriors`) are exact and vectorised over time: tracks are cut into chunks ("lanes") of about sqrt(longest track) frames and every chunk of every
track is processed side by side, so each algorithm runs a few loops of about sqrt(T) steps of
numpy over lanes and classes instead of one Python step per frame:

1. per lane, a transfer matrix over its frames from each state before it to each state at its end
   (max-plus for Viterbi, a product of scaled matrices for forward-backward);
2. per track, the chunks chained through those matrices (which states its chunks start and end in,
   or the forward and backward messages at the chunk boundaries);
3. per lane again, the frames inside it, given what step 2 fixed at its ends.

The result is exactly what a frame-by-frame recursion gives (tests: brute-force enumeration,
a plain loop). Every track starts from ``init`` (a track boundary always resets the chain).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class Lanes:
    """Tracks cut into chunks of ``m`` frames, lanes sorted by length (the running ones are a prefix)."""

    def __init__(self, lengths: Sequence[int], m: int | None = None):
        n = np.asarray(lengths, np.int64)
        self.m = m or max(8, int(np.ceil(np.sqrt(n.max(initial=1)))))
        chunks = -(-n // self.m)
        offsets = np.r_[0, np.cumsum(n)[:-1]].astype(np.int64)
        track = np.repeat(np.arange(len(n)), chunks)
        q = np.arange(len(track)) - np.repeat(np.cumsum(chunks) - chunks, chunks)
        size = np.minimum(self.m, n[track] - q * self.m)
        order = np.argsort(-size, kind="stable")
        self.track, self.q, self.size = track[order], q[order], size[order]
        self.start = offsets[self.track] + self.q * self.m
        self.first = self.q == 0
        self.running = np.searchsorted(-self.size, -np.arange(self.m), side="left")  # lanes longer than s
        lane_of = np.empty(len(order), np.int64)
        lane_of[order] = np.arange(len(order))
        # per chunk index q, the lanes of the tracks that have a q-th chunk (tracks by chunk count, desc)
        by_count = np.argsort(-chunks, kind="stable")
        first_chunk = np.r_[0, np.cumsum(chunks)[:-1]]
        self.table = [lane_of[first_chunk[by_count[: int((chunks > k).sum())]] + k] for k in range(chunks.max(initial=0))]
        self.n_tracks = len(by_count)
        frame_lane = np.repeat(np.arange(len(order)), self.size)
        self.frame_pos = np.arange(len(frame_lane)) - np.repeat(np.cumsum(self.size) - self.size, self.size)
        self.frame_index = self.start[frame_lane] + self.frame_pos
        self.frame_lane = frame_lane

    def pad(self, flat: np.ndarray) -> np.ndarray:
        """(N, C) frames -> (lanes, m, C), zeros beyond each lane's size."""
        out = np.zeros((len(self.size), self.m, flat.shape[1]), flat.dtype)
        out[self.frame_lane, self.frame_pos] = flat[self.frame_index]
        return out

    def unpad(self, lanes: np.ndarray) -> np.ndarray:
        out = np.empty((len(self.frame_index), *lanes.shape[2:]), lanes.dtype)
        out[self.frame_index] = lanes[self.frame_lane, self.frame_pos]
        return out


def _maxplus(d: np.ndarray, log_trans: np.ndarray) -> np.ndarray:
    """``out[j] = max_l d[l] + log_trans[l, j]`` for ``d`` of shape (C, ...): a loop over the C
    classes, numpy over the rest (contiguous blocks: several times faster than a reduction over a
    short last axis)."""
    shape = (-1,) + (1,) * (d.ndim - 1)
    out = d[0][None] + log_trans[0].reshape(shape)
    tmp = np.empty_like(out)
    for k in range(1, len(log_trans)):
        np.add(d[k][None], log_trans[k].reshape(shape), out=tmp)
        np.maximum(out, tmp, out=out)
    return out


def _best_from(delta: np.ndarray, log_trans: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row and next class j: ``max_i delta[i] + log_trans[i, j]`` and its argmax i (ties: the smallest i)."""
    best = delta[:, 0, None] + log_trans[0]
    arg = np.zeros(best.shape, np.int8)
    for i in range(1, len(log_trans)):
        cand = delta[:, i, None] + log_trans[i]
        better = cand > best
        np.copyto(best, cand, where=better)
        arg[better] = i
    return best, arg


def _split(flat: np.ndarray, lengths: Sequence[int]) -> list[np.ndarray]:
    return np.split(flat, np.cumsum(lengths)[:-1]) if len(lengths) else []


def viterbi(log_emit: Sequence[np.ndarray], log_init: np.ndarray, log_trans: np.ndarray,
            m: int | None = None) -> list[np.ndarray]:
    """The most probable class path of each track: argmax over paths of
    ``log_init[c_0] + log_emit[0, c_0] + sum_t (log_trans[c_{t-1}, c_t] + log_emit[t, c_t])``.
    Many frames per track: the lanes (``m`` frames each); many tracks for the longest one's
    length: one step per frame over every track at once (:func:`viterbi_steps`); the same path."""
    lengths = [len(x) for x in log_emit]
    if sum(lengths) == 0:
        return [np.zeros(0, np.int64) for _ in lengths]
    if m is None and _by_steps(lengths, len(log_init)):
        return viterbi_steps(log_emit, log_init, log_trans)
    lanes = Lanes(lengths, m)
    E = lanes.pad(np.concatenate([np.asarray(x, np.float64) for x in log_emit]))
    first, c = lanes.first, len(log_init)
    # 1. transfer: D[j, k, i] = best score of lane k's frames, from state i before it to state j at its end
    e0 = E[:, 0].T  # (j, lanes)
    D = log_trans.T[:, None, :] + e0[:, :, None]
    D[:, first, :] = (log_init[:, None] + e0[:, first])[:, :, None]
    for s in range(1, lanes.m):
        k = lanes.running[s]
        D[:, :k] = _maxplus(D[:, :k], log_trans) + E[:k, s].T[:, :, None]
    # 2. per track, the best chain of chunks: which state each chunk ends in and starts after
    v = np.zeros((lanes.n_tracks, c))
    came = np.zeros((len(first), c), np.int64)
    for q, ln in enumerate(lanes.table):
        r = len(ln)
        if q == 0:
            v[:r] = D[:, ln, 0].T
            continue
        cand = v[:r, :, None] + D[:, ln].transpose(1, 2, 0)  # (r, i, j)
        came[ln] = cand.argmax(1)
        v[:r] = cand.max(1)
    end, before = np.zeros(len(first), np.int64), np.zeros(len(first), np.int64)
    cur = v.argmax(1)
    for q in range(len(lanes.table) - 1, -1, -1):
        ln = lanes.table[q]
        r = len(ln)
        end[ln] = cur[:r]
        if q:
            cur[:r] = came[ln, cur[:r]]
            before[ln] = cur[:r]
    # 3. inside each lane: the best path from its state before to its end state
    delta = log_trans[before] + E[:, 0]
    delta[first] = log_init[None, :] + E[first, 0]
    back = np.zeros((len(first), lanes.m, c), np.int8)
    for s in range(1, lanes.m):
        k = lanes.running[s]
        best, back[:k, s] = _best_from(delta[:k], log_trans)
        delta[:k] = best + E[:k, s]
    path = np.zeros((len(first), lanes.m), np.int64)
    cur = end.copy()
    for s in range(lanes.m - 1, -1, -1):
        k = lanes.running[s]
        path[:k, s] = cur[:k]
        if s:
            cur[:k] = back[np.arange(k), s, cur[:k]]
    return _split(lanes.unpad(path), lengths)


STEP_COST = 128  # one Python step over all tracks costs about this many frame-classes of a lane's work


def _by_steps(lengths: Sequence[int], c: int) -> bool:
    """Whether one step per frame over all tracks beats the lanes (and pads at most 4x the frames)."""
    n_t, total = max(lengths), sum(lengths)
    return n_t * STEP_COST < total * c and n_t * len(lengths) <= 4 * total


def viterbi_steps(log_emit: Sequence[np.ndarray], log_init: np.ndarray, log_trans: np.ndarray) -> list[np.ndarray]:
    """:func:`viterbi` by the plain recursion, one numpy step per frame over every track still
    running (tracks sorted by length, frames laid out time-major): the fewer frames per track, the faster."""
    lengths = np.array([len(x) for x in log_emit], np.int64)
    order = np.argsort(-lengths, kind="stable")
    lens = lengths[order]
    n_t, c = int(lens[0]), len(log_init)
    running = np.searchsorted(-lens, -np.arange(n_t), side="left")  # tracks longer than t
    E = np.zeros((n_t, len(order), c))
    for k, i in enumerate(order):
        E[: lens[k], k] = log_emit[i]
    delta = log_init[None] + E[0]
    back = np.zeros((n_t, len(order), c), np.int8)
    for t in range(1, n_t):
        k = running[t]
        cand = delta[:k, :, None] + log_trans[None]
        arg = cand.argmax(1)
        back[t, :k] = arg
        delta[:k] = np.take_along_axis(cand, arg[:, None, :], 1)[:, 0] + E[t, :k]
    path = np.zeros((n_t, len(order)), np.int64)
    cur = delta.argmax(1)  # each track's best final state (its delta stopped at its last frame)
    idx = np.arange(len(order))
    for t in range(n_t - 1, -1, -1):
        k = running[t]
        path[t, :k] = cur[:k]
        if t:
            cur[:k] = back[t, idx[:k], cur[:k]]
    out: list[np.ndarray] = [np.zeros(0, np.int64)] * len(order)
    for k, i in enumerate(order):
        out[i] = path[: lens[k], k].copy()
    return out


def _norm(x: np.ndarray) -> np.ndarray:
    return x / x.sum(-1, keepdims=True)


def posteriors(log_emit: Sequence[np.ndarray], init: np.ndarray, trans: np.ndarray,
               m: int | None = None) -> list[np.ndarray]:
    """Forward-backward marginals p(c_t | every frame of the track), (n, C) per track, rows summing to 1."""
    lengths = [len(x) for x in log_emit]
    c = len(init)
    if sum(lengths) == 0:
        return [np.zeros((0, c)) for _ in lengths]
    if m is None and _by_steps(lengths, c):
        return posteriors_steps(log_emit, init, trans)
    lanes = Lanes(lengths, m)
    flat = np.concatenate([np.asarray(x, np.float64) for x in log_emit])
    E = lanes.pad(np.exp(flat - flat.max(1, keepdims=True)))  # a per-frame scale cancels in every normalisation
    first, n_lanes = lanes.first, len(lanes.first)
    # 1. transfer: P[k] = entry . diag(e_0) . trans . diag(e_1) ... (entry: trans, or identity for a track's first lane)
    P = np.repeat(trans[None], n_lanes, 0)
    P[first] = np.eye(c)
    P *= E[:, 0, None, :]
    P /= P.sum((1, 2), keepdims=True)
    for s in range(1, lanes.m):
        k = lanes.running[s]
        nxt = (P[:k].reshape(-1, c) @ trans).reshape(k, c, c) * E[:k, s, None, :]
        P[:k] = nxt / nxt.sum((1, 2), keepdims=True)
    # 2. messages at the chunk boundaries: filtered state before each lane, backward message at its end
    before, after = np.zeros((n_lanes, c)), np.ones((n_lanes, c))
    u = np.repeat(init[None], lanes.n_tracks, 0)
    for ln in lanes.table:
        r = len(ln)
        before[ln] = u[:r]
        u[:r] = _norm(np.einsum("ri,rij->rj", u[:r], P[ln]))
    w = np.ones((lanes.n_tracks, c))
    for q in range(len(lanes.table) - 1, 0, -1):
        ln = lanes.table[q]
        r = len(ln)
        after[ln] = w[:r]
        w[:r] = _norm(np.einsum("rij,rj->ri", P[ln], w[:r]))
    if lanes.table:
        ln = lanes.table[0]
        after[ln] = w[: len(ln)]
    # 3. inside each lane
    alpha = np.zeros_like(E)
    a = np.where(first[:, None], before, before @ trans) * E[:, 0]
    alpha[:, 0] = a = _norm(a)
    for s in range(1, lanes.m):
        k = lanes.running[s]
        a[:k] = _norm((a[:k] @ trans) * E[:k, s])
        alpha[:k, s] = a[:k]
    b = after.copy()
    for s in range(lanes.m - 1, -1, -1):
        k = lanes.running[s]
        alpha[:k, s] *= b[:k]
        if s:
            b[:k] = _norm((E[:k, s] * b[:k]) @ trans.T)
    return _split(_norm(lanes.unpad(alpha)), lengths)


def posteriors_steps(log_emit: Sequence[np.ndarray], init: np.ndarray, trans: np.ndarray) -> list[np.ndarray]:
    """:func:`posteriors` by the plain scaled forward-backward recursion, one step per frame over
    every track still running (as :func:`viterbi_steps`)."""
    lengths = np.array([len(x) for x in log_emit], np.int64)
    order = np.argsort(-lengths, kind="stable")
    lens = lengths[order]
    n_t, c = int(lens[0]), len(init)
    running = np.searchsorted(-lens, -np.arange(n_t), side="left")
    E = np.ones((n_t, len(order), c))
    for k, i in enumerate(order):
        x = np.asarray(log_emit[i], np.float64)
        E[: lens[k], k] = np.exp(x - x.max(1, keepdims=True))
    alpha = np.empty_like(E)
    a = _norm(init[None] * E[0])
    alpha[0] = a
    for t in range(1, n_t):
        k = running[t]
        a[:k] = _norm((a[:k] @ trans) * E[t, :k])
        alpha[t, :k] = a[:k]
    b = np.ones((len(order), c))
    for t in range(n_t - 1, -1, -1):
        k = running[t]
        alpha[t, :k] *= b[:k]
        if t:
            b[:k] = _norm((E[t, :k] * b[:k]) @ trans.T)
    out: list[np.ndarray] = [np.zeros((0, c))] * len(order)
    for k, i in enumerate(order):
        out[i] = _norm(alpha[: lens[k], k])
    return out
