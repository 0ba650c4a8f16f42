"""The bundle's combination and post-processing over a sliding window of one person's frames.

Each stage of the bundle's chain runs on the frames ``[d - history, e + lookahead)`` to decide
frames ``[d, e)``, replaying the offline ``apply`` on that window:

- calibration: per frame (no window);
- smoothing (``box``/``gauss``/``median`` over +-k frames): history and lookahead k, so every
  decided frame sees exactly the frames it sees offline (track ends padded alike): equal rows;
- sequence decoders (``viterbi``, ``hsmm``): fixed-lag decoding, a frame decided ``lag`` frames
  after it arrived from the last ``history`` frames and those ``lag``; offline decodes the whole
  track, so a decided frame differs only where a later frame, more than ``lag`` after it, would
  have changed the best path (the tests bound how often).

- a multi-task bundle's VA/AU post-processing (:class:`.tasks.TaskWindow`): centred smoothing,
  history and lookahead its widest half-width: equal rows; its EXPR chain follows, each stage on
  the EXPR slice (:class:`~exprnet.deploy.tasks.ExprSlice`), as above.

Lookaheads add up along the chain. Only ``history + lookahead`` frames are kept per stage.
"""

from __future__ import annotations

import numpy as np

SMOOTHERS = ("none", "box", "gauss", "median")


class Stage:
    def __init__(self, proc, history: int, lookahead: int, width: int = 8):
        self.proc, self.history, self.lookahead = proc, history, lookahead
        self.base, self.decided = 0, 0  # rows [base, ...) kept; rows < decided given out
        self.rows = np.zeros((0, width), np.float64)

    def push(self, probs: np.ndarray, closed: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """New rows in; (probabilities, labels) of the rows decided now."""
        if len(probs):
            self.rows = np.concatenate([self.rows, probs])
        n = self.base + len(self.rows)
        e = n if closed else n - self.lookahead
        if e <= self.decided:
            return np.zeros((0, self.rows.shape[1]), np.float32), np.zeros(0, np.int64)
        lo = max(self.base, self.decided - self.history)
        hi = n if closed else min(n, e + self.lookahead)
        dec = self.proc.apply(self.rows[lo - self.base:hi - self.base])
        a, b = self.decided - lo, e - lo
        out = np.asarray(dec.probs[a:b], np.float32), np.asarray(dec.labels[a:b], np.int64)
        self.decided = e
        keep = max(self.base, e - self.history)
        self.rows, self.base = self.rows[keep - self.base:], keep
        return out


def stage_for(proc, lag: int) -> Stage:
    """``proc``'s stage; rows as wide as its ``n_outputs`` (a multi-task bundle's rows), else 8."""
    kind, width = getattr(proc, "kind", ""), int(getattr(proc, "n_outputs", 8))
    if kind == "tasks":  # a multi-task bundle's VA/AU smoothing (:mod:`.tasks`): +-width frames
        return Stage(proc, proc.width, proc.width, width)
    if kind in SMOOTHERS:
        k = int(proc.width or 0) if kind != "none" else 0
        return Stage(proc, k, k, width)
    if kind == "calibration":
        return Stage(proc, 0, 0, width)
    return Stage(proc, 4 * lag, lag, width)  # a sequence decoder: fixed lag
