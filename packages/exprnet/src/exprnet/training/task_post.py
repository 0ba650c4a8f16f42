"""A multi-task run's post-processing, fitted after training on training tracks only.

- VA and AU (:mod:`exprnet.tasks.post`): the VA smoothing width and the AU per-AU smoothing and
  thresholds, fitted on the training tracks' predictions against their labels: out of fold with
  ``smooth.folds >= 2`` (:mod:`.oof`: the sub-runs' last checkpoints, ``RUN/oof/tasks.npz``), else
  in-sample (the run's best checkpoint, at most ``WIDTH_FRAMES`` frames). Kept in
  ``RUN/task_post.json`` in a bundle's ``task_post`` format (:class:`exprnet.deploy.tasks.TaskPost`)
  plus ``source``: which predictions it was fitted on.
- EXPR (a run with an EXPR head): calibration and ``smooth:`` as an EXPR run's
  (:func:`.postfit.fit_after_training`, ``RUN/calibration.json``) on the EXPR slice, on the
  training and validation tracks EXPR annotates.

``smooth.baseline: auto``: each VA/AU head is first blended with its task baseline, the weight
chosen out of fold (:mod:`.task_blend`, ``RUN/checkpoints/blend.npz``); the post-processing is
then fitted on the chosen blend's out-of-fold outputs, kept in ``RUN/oof/tasks.npz`` (the
network's own in ``RUN/oof/network_tasks.npz``). An EXPR head is blended with the logistic
regression as an EXPR-only run's (:mod:`.blend`: ``RUN/oof/probs.npz`` the blend's,
``network.npz`` the network's), and its blend is saved with the heads' in one ``blend.npz``.

The validation tracks are only scored: metrics.json gets ``val_va_post``, ``val_ccc_valence_post``,
``val_ccc_arousal_post``, ``val_au_f1_post``, ``val_f1_AU1_post``..., ``val_f1_post`` (EXPR after
calibration and decoding) beside the raw ``val_`` scores, and ``task_post`` (what was fitted).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from featurizer.core.files import atomic_write_json

from ..config import RunConfig
from ..data.bank import FeatureBank
from ..errors import ConfigError, DataError, RunError
from ..models.blend import RunBlend, blend_path
from ..models.task_blend import TaskBlend
from ..postprocess.calibration import resolve_mode
from ..postprocess.smoothing import tracks_for_width
from ..reports.progress import Reporter
from ..tasks.metrics import au_scores, va_scores
from ..tasks.post import AUPost, VAPost, fit_au_post, fit_va_post
from .oof import (
    EXPR_FILE,
    HEADS,
    NETWORK_EXPR,
    NETWORK_TASKS,
    TASKS_FILE,
    out_of_fold_outputs,
    save_arrays,
    task_tracks,
    task_truth,
)
from .postfit import WIDTH_FRAMES, ProbsOf, fit_after_training
from .task_blend import FittedTaskBlends, fit_task_blends

POST_FILE = "task_post.json"
Post = VAPost | AUPost


def read_task_post(run_root: str | Path) -> dict[str, Any] | None:
    """``RUN/task_post.json`` (``va``, ``au``: :meth:`VAPost.to_dict` / :meth:`AUPost.to_dict`, ``source``), if any."""
    path = Path(run_root) / POST_FILE
    if not path.exists():
        return None
    try:
        d = json.loads(path.read_text())
        for task, cls in (("va", VAPost), ("au", AUPost)):
            if task in d:
                cls.from_dict(d[task])
    except (ValueError, KeyError, TypeError, DataError) as e:
        raise RunError(str(path), f"holds no valid VA/AU post-processing ({e})",
                       "delete it (exprnet bundle then refits it in-sample), or train the run again") from None
    return d


def posts_of(rec: dict[str, Any] | None) -> dict[str, Post]:
    """The :class:`VAPost` / :class:`AUPost` of a :func:`read_task_post` record."""
    rec = rec or {}
    out: dict[str, Post] = {}
    if "va" in rec:
        out["va"] = VAPost.from_dict(rec["va"])
    if "au" in rec:
        out["au"] = AUPost.from_dict(rec["au"])
    return out


def scores_of(task: str, post: Post, preds: Sequence[np.ndarray], trues: Sequence[np.ndarray]) -> dict[str, float]:
    """A task's pooled scores (the contract's keys) of predictions after ``post``."""
    y = np.concatenate(trues)
    p = np.concatenate(post.apply(preds))
    return va_scores(p, y) if task == "va" else au_scores(p, y)


def fit_task_posts(preds: dict[str, list[np.ndarray]], trues: dict[str, list[np.ndarray]]) -> dict[str, Post]:
    """Per VA/AU task with training predictions: its post-processing fitted on them."""
    fit = {"va": fit_va_post, "au": fit_au_post}
    return {t: fit[t](preds[t], trues[t]) for t in HEADS if preds.get(t)}


def fit_run_post(cfg: RunConfig, bank: FeatureBank, train_ids: Sequence[int], val_ids: Sequence[int], probs: ProbsOf,
                 views: dict[int, np.ndarray], slices: dict[str, slice], run_root: Path, reporter: Reporter,
                 execute: Callable[..., Any] | None = None) -> dict[str, Any]:
    """Fit and record the run's post-processing (module doc); returns metrics.json's fields
    (``smoothing``: EXPR's record, as an EXPR run's)."""
    memo: dict[int, np.ndarray] = {}

    def cached(ids: Sequence[int], name: str) -> dict[int, np.ndarray]:
        need = [i for i in ids if i not in memo]
        if need:
            memo.update(probs(need, name))
        return {i: memo[i] for i in ids}

    sm, heads = cfg.smooth, [t for t in HEADS if t in slices]
    train = [bank.tracks[i] for i in train_ids]
    blending = sm.baseline == "auto" and sm.folds >= 2 and bool(heads)
    if not blending:
        drop_stale_tasks(run_root)
    if sm.folds >= 2:
        if execute is None:
            raise ConfigError("smooth.folds", "needs out-of-fold sub-runs, which only a run started by "
                              "exprnet.training.experiment (exprnet train, exprnet.train) makes",
                              "train through exprnet train, or set smooth.folds: 0")
        oof = out_of_fold_outputs(cfg, bank, train, run_root / "oof", sm.folds, reporter, execute,
                                  expr_file=NETWORK_EXPR if blending else EXPR_FILE,
                                  tasks_file=NETWORK_TASKS if blending else TASKS_FILE)
        source = f"out of fold ({sm.folds} sub-runs by source video, last checkpoints)"
        fit_tracks = {h: list(oof.tasks[h]) for h in heads}
        preds = {h: [oof.tasks[h][t] for t in fit_tracks[h]] for h in heads}
    else:
        source = "in-sample (the run's best checkpoint on its training tracks)"
        ids = bank.ids(sorted({t for h in heads for t in task_tracks(bank, h, train)}))
        ids = tracks_for_width(ids, [bank.length(i) for i in ids], WIDTH_FRAMES, cfg.train.seed) if ids else []
        got = cached(ids, "post-processing: training tracks")
        fit_tracks = {h: task_tracks(bank, h, [bank.tracks[i] for i in ids]) for h in heads}
        preds = {h: [got[bank.index(t)][:, slices[h]] for t in fit_tracks[h]] for h in heads}
    trues = {h: [task_truth(bank, h, t) for t in fit_tracks[h]] for h in heads}
    fb: FittedTaskBlends | None = None
    if blending:
        fb = blend_heads(cfg, bank, train, fit_tracks, preds, trues, run_root, reporter)
        preds = {h: [fb.train_preds[h][t] for t in fit_tracks[h]] for h in heads}
        source += ", blended with the task baseline's out of fold"
    posts = fit_task_posts(preds, trues)
    rec: dict[str, Any] = {**{t: p.to_dict() for t, p in posts.items()}, "source": source,
                           "train_tracks": {h: len(fit_tracks[h]) for h in heads},
                           **({"blend": fb.record} if fb is not None else {})}
    out: dict[str, Any] = {}
    val = [bank.tracks[i] for i in val_ids]
    for h in heads:
        tracks = task_tracks(bank, h, val)
        if not tracks or h not in posts:
            continue
        ids = bank.ids(tracks)
        got = cached(ids, "post-processing: validation")
        if fb is not None:
            net_scores = va_scores if h == "va" else au_scores
            y = np.concatenate([task_truth(bank, h, t) for t in tracks])
            raw = np.concatenate([got[i][:, slices[h]] for i in ids])
            out.update({f"val_{k}_network": v for k, v in net_scores(raw if h == "va" else (raw >= 0.5).astype(np.int8),
                                                                        y).items()})
            got = fb.outputs(ids, got, slices)
        vp, vt = [got[bank.index(t)][:, slices[h]] for t in tracks], [task_truth(bank, h, t) for t in tracks]
        out.update({f"val_{k}_post": v for k, v in scores_of(h, posts[h], vp, vt).items()})
    atomic_write_json(run_root / POST_FILE, rec)
    out["task_post"] = rec
    primary = {"va": ("val_va_post", "VA CCC"), "au": ("val_au_f1_post", "AU F1")}
    reporter.message(f"post-processing of {', '.join(h.upper() for h in posts)} fitted {source}: "
                     + "  ".join(f"val {n} {out[k]:.4f}" for k, n in primary.values() if k in out))
    if "expr" in slices and (sm.kind != "none" or sm.baseline == "auto"
                             or resolve_mode(sm.calibrate, bool(sm.folds)) != "none"):
        out.update(fit_expr_post(cfg, bank, train_ids, val_ids, cached, views, slices["expr"], run_root, reporter,
                                 execute, fb.blends if fb is not None else None))
    return out


def blend_heads(cfg: RunConfig, bank: FeatureBank, train: Sequence[str], fit_tracks: dict[str, list[str]],
                preds: dict[str, list[np.ndarray]], trues: dict[str, list[np.ndarray]], run_root: Path,
                reporter: Reporter) -> FittedTaskBlends:
    """Each head's blend (:mod:`.task_blend`), saved to ``blend.npz``; ``oof/tasks.npz`` gets the blend's outputs."""
    net = {h: dict(zip(fit_tracks[h], preds[h], strict=True)) for h in fit_tracks}
    fb = fit_task_blends(cfg, bank, train, net, run_root, reporter)
    RunBlend(None, fb.blends).save(blend_path(run_root))
    save_arrays(run_root / "oof" / TASKS_FILE,
                {**{f"{h}:{t}": fb.train_preds[h][t] for h in fit_tracks for t in fit_tracks[h]},
                 **{f"y{h}:{t}": y for h in fit_tracks for t, y in zip(fit_tracks[h], trues[h], strict=True)}})
    return fb


def drop_stale_tasks(run_root: Path) -> None:
    """A run refitted without a blend keeps none from an earlier fit (the network's VA/AU
    out-of-fold outputs back in ``oof/tasks.npz``)."""
    blend_path(run_root).unlink(missing_ok=True)
    net = run_root / "oof" / NETWORK_TASKS
    if net.exists():
        net.replace(run_root / "oof" / TASKS_FILE)


def fit_expr_post(cfg: RunConfig, bank: FeatureBank, train_ids: Sequence[int], val_ids: Sequence[int], probs: ProbsOf,
                  views: dict[int, np.ndarray], s: slice, run_root: Path, reporter: Reporter,
                  execute: Callable[..., Any] | None, task_blends: dict[str, TaskBlend] | None = None
                  ) -> dict[str, Any]:
    """EXPR's calibration and ``smooth:`` on the EXPR slice, the tracks EXPR annotates (the
    out-of-fold EXPR probabilities are those :func:`fit_run_post` kept); with ``smooth.baseline:
    auto`` EXPR's blend first, saved beside the heads' ``task_blends``."""
    def expr_ids(ids: Sequence[int]) -> list[int]:
        return [i for i in ids if (bank.track_labels(i) >= 0).any()]

    def expr_probs(ids: Sequence[int], name: str) -> dict[int, np.ndarray]:
        return {i: p[:, s] for i, p in probs(ids, name).items()}

    rec = fit_after_training(cfg, bank, expr_ids(train_ids), expr_ids(val_ids), expr_probs, views, run_root,
                             reporter, execute, task_blends)
    return {"smoothing": rec, "val_f1_post": rec["val_f1"]}
