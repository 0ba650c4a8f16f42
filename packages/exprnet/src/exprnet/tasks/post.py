"""Post-processing of VA values and AU probabilities, fitted on training tracks only.

- VA (:class:`VAPost`): one smoothing half-width (``box`` or ``gauss``, within each track), the
  candidate with the best pooled VA score (mean CCC over all frames) on the given tracks;
- AU (:class:`AUPost`): per AU, a smoothing half-width and a decision threshold, the pair with
  the best binary F1 on the given tracks.

The fitters see only what they are given: pass out-of-fold training predictions and training
labels (:mod:`.baselines`), never validation labels. Ties go to the smaller width and the
threshold nearest 0.5.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError
from ..postprocess.smoothing import CANDIDATES, smooth
from .metrics import va_scores
from .names import N_AU

KINDS = ("box", "gauss")
THRESHOLDS = tuple(round(0.05 * k, 2) for k in range(1, 20))  # 0.05 .. 0.95


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise ConfigError(f"smoothing {kind!r}", "is not a smoothing of VA/AU", f"choose from {', '.join(KINDS)}")
    return kind


def _pair(preds: Sequence[np.ndarray], trues: Sequence[np.ndarray], what: str) -> None:
    if len(preds) != len(trues) or not len(preds):
        raise DataError(what, f"got {len(preds)} prediction tracks for {len(trues)} label tracks",
                        "give one prediction array per training track")
    for k, (p, t) in enumerate(zip(preds, trues, strict=True)):
        if np.shape(p) != np.shape(t):
            raise DataError(what, f"track {k}: predictions {np.shape(p)} and labels {np.shape(t)} differ")


@dataclass
class VAPost:
    """Smoothing of VA predictions within each track, then clipping to [-1, 1]."""

    width: int = 0
    kind: str = "box"
    scores: dict[int, float] = field(default_factory=dict)  # candidate width -> pooled VA score

    def apply_track(self, pred: np.ndarray) -> np.ndarray:
        out = smooth(np.asarray(pred, np.float32), self.width, self.kind)
        return np.clip(out, -1.0, 1.0).astype(np.float32)

    def apply(self, preds: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [self.apply_track(p) for p in preds]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "width": self.width, "train_va_by_width": {str(k): v for k, v in self.scores.items()}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VAPost:
        return cls(int(d["width"]), _kind(d.get("kind", "box")),
                   {int(k): float(v) for k, v in d.get("train_va_by_width", {}).items()})


def fit_va_post(preds: Sequence[np.ndarray], trues: Sequence[np.ndarray], kind: str = "box",
                candidates: Sequence[int] = CANDIDATES) -> VAPost:
    """The half-width with the best pooled VA score of ``preds`` against ``trues`` (training tracks)."""
    _pair(preds, trues, "VA post-processing")
    y = np.concatenate(trues)
    scores = {}
    for k in candidates:
        post = VAPost(int(k), _kind(kind))
        scores[int(k)] = va_scores(np.concatenate(post.apply(preds)), y)["va"]
    best = max(scores, key=lambda k: (scores[k], -k))
    return VAPost(best, kind, scores)


@dataclass
class AUPost:
    """Per AU: smoothing half-width of its probabilities within each track, then its threshold."""

    widths: np.ndarray = field(default_factory=lambda: np.zeros(N_AU, np.int64))
    thresholds: np.ndarray = field(default_factory=lambda: np.full(N_AU, 0.5))
    kind: str = "box"
    train_f1: np.ndarray | None = None  # per AU, at the chosen pair

    def smooth_track(self, probs: np.ndarray) -> np.ndarray:
        probs = np.asarray(probs, np.float32)
        out = probs.copy()
        for k in np.unique(self.widths):
            cols = np.flatnonzero(self.widths == k)
            out[:, cols] = smooth(probs[:, cols], int(k), self.kind)
        return out

    def binarize(self, probs: np.ndarray) -> np.ndarray:
        return (np.asarray(probs) >= self.thresholds).astype(np.int8)

    def apply_track(self, probs: np.ndarray) -> np.ndarray:
        """(n, 12) 0/1 int8 of one track's probabilities."""
        return self.binarize(self.smooth_track(probs))

    def apply(self, probs: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [self.apply_track(p) for p in probs]

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind, "widths": [int(w) for w in self.widths],
                             "thresholds": [float(t) for t in self.thresholds]}
        if self.train_f1 is not None:
            d["train_f1"] = [float(f) for f in self.train_f1]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AUPost:
        w, t = np.asarray(d["widths"], np.int64), np.asarray(d["thresholds"], np.float64)
        if w.shape != (N_AU,) or t.shape != (N_AU,):
            raise DataError("AU post-processing", f"holds {w.size} widths and {t.size} thresholds, not {N_AU}")
        f1 = d.get("train_f1")
        return cls(w, t, _kind(d.get("kind", "box")), None if f1 is None else np.asarray(f1))


def _f1_grid(p: np.ndarray, y: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """(12, T) binary F1 of ``p >= thr`` per AU over cells with ``y >= 0``."""
    keep, pos = y >= 0, y > 0
    out = np.zeros((N_AU, len(thresholds)))
    for j in range(N_AU):
        pj, kj, tj = p[keep[:, j], j], keep[:, j], pos[keep[:, j], j]
        if not kj.any():
            continue
        hit = pj[:, None] >= thresholds[None, :]
        tp = (hit & tj[:, None]).sum(0).astype(np.float64)
        den = hit.sum(0) + tj.sum()  # 2tp + fp + fn = predicted + actual positives
        out[j] = np.divide(2 * tp, den, out=np.zeros(len(thresholds)), where=den > 0)
    return out


def fit_au_post(probs: Sequence[np.ndarray], trues: Sequence[np.ndarray], kind: str = "box",
                candidates: Sequence[int] = CANDIDATES, thresholds: Sequence[float] = THRESHOLDS) -> AUPost:
    """Per AU, the (half-width, threshold) with the best F1 of ``probs`` against ``trues`` (training tracks)."""
    _pair(probs, trues, "AU post-processing")
    _kind(kind)
    y = np.concatenate(trues)
    thr = np.asarray(thresholds, np.float64)
    ks = [int(k) for k in candidates]
    grid = np.stack([_f1_grid(np.concatenate([smooth(np.asarray(p, np.float32), k, kind) for p in probs]), y, thr)
                     for k in ks])  # (K, 12, T)
    widths, chosen, f1 = np.zeros(N_AU, np.int64), np.full(N_AU, 0.5), np.zeros(N_AU)
    for j in range(N_AU):
        g = grid[:, j, :]
        best = g.max()
        cands = [(ks[a], abs(thr[b] - 0.5), thr[b]) for a, b in zip(*np.nonzero(g >= best - 1e-12), strict=True)]
        k, _, t = min(cands)
        widths[j], chosen[j], f1[j] = k, t, best
    return AUPost(widths, chosen, kind, f1)
