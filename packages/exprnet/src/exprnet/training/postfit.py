"""A trained network's post-processing: calibration and ``smooth:`` fitted on its training tracks.

The training tracks' probabilities come from the run itself (``smooth.folds: 0``: its best
checkpoint, in-sample, at most ``WIDTH_FRAMES`` frames of a seeded subset of tracks) or out of
fold (``smooth.folds: K``): K sub-runs of the same configuration in ``RUN/oof/fold<k>``, each
trained without one group of training source videos and predicting that group with its last
checkpoint (kept in ``RUN/oof/probs.npz``). Then :func:`exprnet.postprocess.choice.fit_postprocess`
fits the calibration (``RUN/calibration.json``) and the smoothing or decoder; the validation
tracks are only scored (F1, ECE before and after calibration). ``smooth.baseline: auto`` first
blends the network with a logistic regression on its inputs, the weight chosen out of fold
(:mod:`.blend`): the calibration and decoder are then fitted on the blend, and the network alone
with its own post-processing is scored beside it (``val_f1_network``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from featurizer.core.annotations import source_video

from ..config import CLASSES, N_CLASSES, RunConfig
from ..data.bank import FeatureBank
from ..data.splits import track_groups
from ..errors import ConfigError
from ..models.task_blend import TaskBlend
from ..postprocess.calibration import ece, resolve_mode, write_calibration
from ..postprocess.choice import Fitted, apply_all, describe_record, fit_postprocess
from ..postprocess.decoding import spec_from_config
from ..postprocess.priors import trained_prior
from ..postprocess.smoothing import tracks_for_width
from ..reports.metrics import confusion, per_class_f1
from ..reports.progress import Reporter
from .blend import drop_stale, fit_blend, save_blend
from .losses import class_counts
from .oof import EXPR_FILE, NETWORK_EXPR, frame_labels, out_of_fold_outputs, save_arrays

WIDTH_FRAMES = 200_000  # in-sample: training frames the post-processing is fitted on at most
ProbsOf = Callable[[Sequence[int], str], dict[int, np.ndarray]]
Labelled = dict[str, tuple[np.ndarray, np.ndarray]]  # track -> (probabilities, labels of those rows)


def out_of_fold(cfg: RunConfig, bank: FeatureBank, train: Sequence[str], root: Path, folds: int,
                reporter: Reporter, execute: Callable[..., Any], expr_file: str = EXPR_FILE) -> Labelled:
    """Every training track's EXPR probabilities from a sub-run that did not train on its source
    video (:func:`.oof.out_of_fold_outputs`, which keeps every head's; ``execute``:
    :func:`exprnet.training.experiment.execute`, given by the caller: experiment imports the
    trainer, which imports this), kept in ``root/expr_file`` (a blended run keeps the network's in
    ``network.npz`` and the blend's, what the run predicts, in ``probs.npz``)."""
    return out_of_fold_outputs(cfg, bank, train, root, folds, reporter, execute, ["expr"], expr_file).expr


def save_labelled(path: Path, out: Labelled) -> None:
    save_arrays(path, {**{f"p:{t}": p for t, (p, _) in out.items()}, **{f"y:{t}": y for t, (_, y) in out.items()}})


def fit_after_training(cfg: RunConfig, bank: FeatureBank, train_ids: Sequence[int], val_ids: Sequence[int],
                       probs: ProbsOf, views: dict[int, np.ndarray], run_root: Path, reporter: Reporter,
                       execute: Callable[..., Any] | None = None, task_blends: dict[str, TaskBlend] | None = None
                       ) -> dict[str, Any]:
    """Calibration and ``smooth:`` of the run in ``run_root`` (its best checkpoint's weights behind
    ``probs``; ``views``: the rows it predicts of tracks whose -1 frames it drops); returns what
    metrics.json records as ``smoothing``. ``task_blends``: a multi-task run's VA/AU blends, saved
    with EXPR's in one ``blend.npz``."""
    sm = cfg.smooth
    blending = sm.baseline == "auto"
    if not blending:
        drop_stale(run_root)
    if sm.folds:
        if execute is None:
            raise ConfigError("smooth.folds", "needs out-of-fold sub-runs, which only a run started by "
                              "exprnet.training.experiment (exprnet train, exprnet.train) makes",
                              "train through exprnet train, or set smooth.folds: 0")
        names = [bank.tracks[i] for i in train_ids]
        oof = out_of_fold(cfg, bank, names, run_root / "oof", sm.folds, reporter, execute,
                          NETWORK_EXPR if blending else EXPR_FILE)
        ids, source = list(train_ids), f"out of fold ({sm.folds} sub-runs by source video, last checkpoints)"
        train, labels = [oof[bank.tracks[i]][0] for i in ids], [oof[bank.tracks[i]][1] for i in ids]
    else:
        ids = tracks_for_width(train_ids, [bank.length(i) for i in train_ids], WIDTH_FRAMES, cfg.train.seed)
        got = probs(ids, "post-processing: training tracks")
        train, source = [got[i] for i in ids], "in-sample (the run's best checkpoint on its training tracks)"
        labels = [frame_labels(bank, i, views) for i in ids]
    groups = track_groups([bank.tracks[i] for i in ids], 3, source_video)
    prior = trained_prior(cfg, class_counts([bank.track_labels(i) for i in train_ids]))
    spec = spec_from_config(sm.kind, sm.width, sm.weight)
    mode = resolve_mode(sm.calibrate, bool(sm.folds))
    net_fit = fit_postprocess(spec, mode, train, labels, groups, prior, source, cfg.train.seed)
    val = probs(val_ids, "post-processing: validation")
    vids = list(val)
    y = [frame_labels(bank, i, views) for i in vids]
    net_score = _score(net_fit, [val[i] for i in vids], y)
    if not blending:
        fitted, (pc, cm, before, after) = net_fit, net_score
        extra: dict[str, Any] = {}
    else:
        blend = fit_blend(cfg, bank, ids, train, labels, run_root, spec, prior, reporter)
        save_blend(run_root, blend.blend, task_blends)
        save_labelled(run_root / "oof" / "probs.npz",
                      {bank.tracks[i]: (p, yy) for i, p, yy in zip(ids, blend.train_probs, labels, strict=True)})
        fitted = fit_postprocess(spec, mode, blend.train_probs, labels, groups, prior,
                                 f"{source}, blended with the logistic regression's out of fold", cfg.train.seed)
        mixed = blend.probs(vids, val)
        pc, cm, before, after = _score(fitted, [mixed[i] for i in vids], y)
        extra = {"blend": blend.record, "val_f1_network": float(net_score[0].mean()),
                 "val_ece_after_network": net_score[3]}
        reporter.message(f"network alone: val F1 {net_score[0].mean():.4f}; blended (network weight "
                         f"{blend.blend.network_weight:g}): {pc.mean():.4f}")
    write_calibration(run_root, fitted.calibration, {**fitted.record["calibration"], "val_ece_before": before,
                                                     "val_ece_after": after})
    reporter.message(f"post-processing {describe_record(fitted.record)} ({fitted.calibration.describe()}, "
                     f"val ECE {before:.3f} -> {after:.3f}): val F1 {pc.mean():.4f}")
    return {**fitted.record, "val_f1": float(pc.mean()), "per_class_f1": dict(zip(CLASSES, pc.tolist(), strict=True)),
            "val_confusion": cm.tolist(), "val_ece_before": before, "val_ece_after": after, **extra}


def _score(fitted: Fitted, vp: list[np.ndarray], y: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Per-class F1, confusion and ECE before and after calibration of ``fitted`` on validation tracks."""
    cm = np.zeros((N_CLASSES, N_CLASSES), np.int64)
    for yi, d in zip(y, apply_all(fitted.processor, vp, fitted.calibration), strict=True):
        cm += confusion(yi, d.labels)
    return per_class_f1(cm), cm, ece(vp, y), ece([fitted.calibration.calibrate(p) for p in vp], y)
