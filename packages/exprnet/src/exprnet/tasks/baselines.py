"""The VA and AU baselines: a linear model per frame on per-track standardised features, then the
task's post-processing fitted on out-of-fold training predictions.

- VA: :class:`VARidge` (:class:`sklearn.linear_model.Ridge` on both dimensions), clipped to [-1, 1];
- AU: :class:`AULogistic`, per AU a :class:`sklearn.linear_model.LogisticRegression` with
  ``class_weight="balanced"`` on the frames where that AU is annotated.

Inputs are per-track arrays ``xs`` of per-track standardised features: what
``BatchBuilder(..., normalize="track").inputs(i)`` gives for a bank track, or
:func:`standardize_tracks` on raw arrays. :func:`va_baseline` / :func:`au_baseline` fit the model
on the training tracks, predict each training track out of fold (groups of tracks by source video,
:func:`source_groups`), fit the post-processing there, and score the validation tracks only.
Models keep plain weight arrays (no pickle): ``to_arrays`` / ``from_arrays``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np
from featurizer.core.annotations import source_video

from ..data.splits import track_groups
from ..errors import DataError
from .metrics import au_scores, va_mask, va_scores
from .names import N_AU
from .post import fit_au_post, fit_va_post

M = TypeVar("M")


def standardize_track(x: np.ndarray) -> np.ndarray:
    """One track's columns to mean 0, std 1 over its finite rows (``data.normalize: track`` on an
    array); a column constant within the track becomes 0; non-finite cells become 0."""
    x = np.asarray(x, np.float64)
    fin = np.isfinite(x)
    m = np.where(fin, x, 0.0).sum(0) / np.maximum(fin.sum(0), 1)
    d = np.where(fin, x - m, 0.0)
    s = np.sqrt((d * d).sum(0) / np.maximum(fin.sum(0), 1))
    return (d / np.where(s > 1e-12, s, 1.0)).astype(np.float32)


def standardize_tracks(xs: Sequence[np.ndarray]) -> list[np.ndarray]:
    return [standardize_track(x) for x in xs]


def source_groups(tracks: Sequence[str], folds: int = 5) -> list[list[int]]:
    """Up to ``folds`` groups of track indices, tracks of one source video together."""
    return track_groups(list(tracks), folds, source_video)


def _frames(xs: Sequence[np.ndarray], ys: Sequence[np.ndarray], keep: Callable[[np.ndarray], np.ndarray],
            max_frames: int, seed: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    if len(xs) != len(ys):
        raise DataError(what, f"got {len(xs)} feature tracks for {len(ys)} label tracks")
    rows = [np.flatnonzero(keep(np.asarray(y))) for y in ys]
    total = sum(len(r) for r in rows)
    if total == 0:
        raise DataError(what, "training tracks have no annotated frame", "give tracks with this task's labels")
    rng = np.random.default_rng(seed)
    frac = min(1.0, max_frames / total)
    xo, yo = [], []
    for x, y, r in zip(xs, ys, rows, strict=True):
        if len(x) != len(y):
            raise DataError(what, f"a track has {len(x)} feature rows for {len(y)} label rows")
        r = r[rng.random(len(r)) < frac] if frac < 1 else r
        xo.append(np.asarray(x, np.float32)[r])
        yo.append(np.asarray(y)[r])
    return np.concatenate(xo), np.concatenate(yo)


@dataclass
class VARidge:
    coef: np.ndarray  # (d, 2)
    intercept: np.ndarray  # (2,)

    @classmethod
    def fit(cls, xs: Sequence[np.ndarray], ys: Sequence[np.ndarray], alpha: float = 1.0,
            max_frames: int = 500_000, seed: int = 0, threads: int | None = 1) -> VARidge:
        """Ridge on the annotated frames (non-NaN rows) of the tracks ``xs`` / ``ys``."""
        from sklearn.linear_model import Ridge
        from threadpoolctl import threadpool_limits

        x, y = _frames(xs, ys, va_mask, max_frames, seed, "VA baseline")
        with threadpool_limits(limits=threads):
            r = Ridge(alpha=alpha).fit(x, y.astype(np.float64))
        return cls(r.coef_.T.astype(np.float32), r.intercept_.astype(np.float32))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """(n, 2) float32 in [-1, 1]."""
        return np.clip(np.asarray(x, np.float32) @ self.coef + self.intercept, -1.0, 1.0)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"coef": self.coef, "intercept": self.intercept}

    @classmethod
    def from_arrays(cls, a: dict[str, np.ndarray]) -> VARidge:
        return cls(np.asarray(a["coef"], np.float32), np.asarray(a["intercept"], np.float32))


@dataclass
class AULogistic:
    coef: np.ndarray  # (d, 12)
    intercept: np.ndarray  # (12,)

    @classmethod
    def fit(cls, xs: Sequence[np.ndarray], ys: Sequence[np.ndarray], c: float = 1.0, max_iter: int = 200,
            max_frames: int = 500_000, seed: int = 0, threads: int | None = 1) -> AULogistic:
        """Per AU, a balanced logistic regression on the frames where it is annotated; an AU seen
        with one value only gets a constant (its training rate, clipped to [1e-4, 1 - 1e-4])."""
        from sklearn.linear_model import LogisticRegression
        from threadpoolctl import threadpool_limits

        x, y = _frames(xs, ys, lambda a: (a >= 0).any(axis=1), max_frames, seed, "AU baseline")
        coef, icpt = np.zeros((x.shape[1], N_AU), np.float32), np.zeros(N_AU, np.float32)
        with threadpool_limits(limits=threads):
            for j in range(N_AU):
                keep = y[:, j] >= 0
                yj = y[keep, j].astype(np.int64)
                if len(np.unique(yj)) < 2:
                    rate = float(np.clip(yj.mean() if len(yj) else 0.0, 1e-4, 1 - 1e-4))
                    icpt[j] = np.log(rate / (1 - rate))
                    continue
                lr = LogisticRegression(C=c, class_weight="balanced", max_iter=max_iter, random_state=seed)
                lr.fit(x[keep], yj)
                coef[:, j], icpt[j] = lr.coef_[0], lr.intercept_[0]
        return cls(coef, icpt)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """(n, 12) float32 probabilities."""
        z = np.asarray(x, np.float32) @ self.coef + self.intercept
        return (1.0 / (1.0 + np.exp(-np.clip(z, -60, 60)))).astype(np.float32)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"coef": self.coef, "intercept": self.intercept}

    @classmethod
    def from_arrays(cls, a: dict[str, np.ndarray]) -> AULogistic:
        return cls(np.asarray(a["coef"], np.float32), np.asarray(a["intercept"], np.float32))


def out_of_fold(fit: Callable[[list[np.ndarray], list[np.ndarray]], M], predict: Callable[[M, np.ndarray], np.ndarray],
                xs: Sequence[np.ndarray], ys: Sequence[np.ndarray], groups: Sequence[Sequence[int]]) -> list[np.ndarray]:
    """Each track's prediction from a model fitted on the other groups' tracks."""
    if len(groups) < 2:
        raise DataError("training tracks", f"form {len(groups)} group(s) by source video",
                        "out-of-fold predictions need tracks from two source videos at least")
    out: list[np.ndarray | None] = [None] * len(xs)
    for g in groups:
        held = set(g)
        model = fit([xs[i] for i in range(len(xs)) if i not in held], [ys[i] for i in range(len(xs)) if i not in held])
        for i in g:
            out[i] = predict(model, xs[i])
    missing = [i for i, o in enumerate(out) if o is None]
    if missing:
        raise DataError("out-of-fold groups", f"leave track(s) {missing[:8]} in no group", "every track needs a group")
    return out  # type: ignore[return-value]


@dataclass
class TaskBaseline(Generic[M]):
    """A fitted baseline: the model (all training tracks), its post-processing (fitted on the
    out-of-fold training predictions ``oof``) and, with validation tracks, their scores."""

    model: M
    post: Any  # VAPost | AUPost
    oof: list[np.ndarray]
    metrics: dict[str, Any]


def _fitted(fit: Callable, predict: Callable, fit_post: Callable, train_xs: Sequence[np.ndarray],
            train_ys: Sequence[np.ndarray], groups: Sequence[Sequence[int]], kind: str) -> tuple[list, Any, Any]:
    """Out-of-fold training predictions, the post-processing chosen on them, the model on every training track."""
    oof = out_of_fold(fit, predict, train_xs, train_ys, groups)
    return oof, fit_post(oof, train_ys, kind), fit(list(train_xs), list(train_ys))


def va_baseline(train_xs: Sequence[np.ndarray], train_ys: Sequence[np.ndarray], groups: Sequence[Sequence[int]],
                val_xs: Sequence[np.ndarray] = (), val_ys: Sequence[np.ndarray] = (), alpha: float = 1.0,
                kind: str = "box", seed: int = 0) -> TaskBaseline[VARidge]:
    """Ridge + smoothing width chosen by pooled CCC on out-of-fold training predictions; validation only scored."""
    def fit(xs: list[np.ndarray], ys: list[np.ndarray]) -> VARidge:
        return VARidge.fit(xs, ys, alpha=alpha, seed=seed)

    oof, post, model = _fitted(fit, VARidge.predict, fit_va_post, train_xs, train_ys, groups, kind)
    metrics: dict[str, Any] = {"kind": "baseline", "model": "ridge", "alpha": alpha, "smoothing": post.to_dict(),
                               "train_oof_va": post.scores[post.width]}
    if len(val_xs):
        raw = [model.predict(x) for x in val_xs]
        y = np.concatenate(val_ys)
        metrics.update({f"val_{k}": v for k, v in va_scores(np.concatenate(post.apply(raw)), y).items()})
        metrics["val_va_raw"] = va_scores(np.concatenate(raw), y)["va"]
    return TaskBaseline(model, post, oof, metrics)


def au_baseline(train_xs: Sequence[np.ndarray], train_ys: Sequence[np.ndarray], groups: Sequence[Sequence[int]],
                val_xs: Sequence[np.ndarray] = (), val_ys: Sequence[np.ndarray] = (), c: float = 1.0,
                kind: str = "box", seed: int = 0) -> TaskBaseline[AULogistic]:
    """Per-AU balanced logistic regression + per-AU thresholds and smoothing chosen by F1 on
    out-of-fold training probabilities; validation only scored."""
    def fit(xs: list[np.ndarray], ys: list[np.ndarray]) -> AULogistic:
        return AULogistic.fit(xs, ys, c=c, seed=seed)

    oof, post, model = _fitted(fit, AULogistic.predict_proba, fit_au_post, train_xs, train_ys, groups, kind)
    metrics: dict[str, Any] = {"kind": "baseline", "model": "logreg", "C": c, "postprocess": post.to_dict(),
                               "train_oof_au_f1": float(np.mean(post.train_f1))}
    if len(val_xs):
        probs = [model.predict_proba(x) for x in val_xs]
        y = np.concatenate(val_ys)
        metrics.update({f"val_{k}": v for k, v in au_scores(np.concatenate(post.apply(probs)), y).items()})
        metrics["val_au_f1_raw"] = au_scores(np.concatenate([(p >= 0.5).astype(np.int8) for p in probs]), y)["au_f1"]
    return TaskBaseline(model, post, oof, metrics)
