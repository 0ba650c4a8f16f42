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

import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from featurizer.core.annotations import source_video
from featurizer.core.files import atomic_write_bytes

from ..config import CLASSES, N_CLASSES, RunConfig
from ..data.bank import FeatureBank, Standardizer
from ..data.batches import BatchBuilder
from ..data.prepare import Prepared
from ..data.splits import Split, track_groups
from ..errors import ConfigError
from ..models.blend import load_run_network
from ..models.inference import predict_probs
from ..postprocess.calibration import ece, resolve_mode, write_calibration
from ..postprocess.choice import Fitted, apply_all, describe_record, fit_postprocess
from ..postprocess.decoding import spec_from_config
from ..postprocess.priors import trained_prior
from ..postprocess.smoothing import tracks_for_width
from ..reports.metrics import confusion, per_class_f1
from ..reports.progress import Reporter
from .blend import drop_stale, fit_blend
from .losses import class_counts
from .runfolder import RunFolder

WIDTH_FRAMES = 200_000  # in-sample: training frames the post-processing is fitted on at most
ProbsOf = Callable[[Sequence[int], str], dict[int, np.ndarray]]
Labelled = dict[str, tuple[np.ndarray, np.ndarray]]  # track -> (probabilities, labels of those rows)


def sub_config(cfg: RunConfig, train: Sequence[str], held: Sequence[str]) -> RunConfig:
    """The run's configuration for one out-of-fold sub-run (no post-processing of its own)."""
    sub = cfg.model_copy(deep=True)
    sub.data.train_tracks, sub.data.val_tracks = list(train), list(held)
    sub.smooth.baseline = "none"
    sub.smooth.kind, sub.smooth.calibrate, sub.smooth.folds = "none", "none", 0
    return sub


def frame_labels(bank: FeatureBank, i: int, views: dict[int, np.ndarray]) -> np.ndarray:
    """Labels of the rows a model predicts of track ``i`` (only its labelled ones with ``data.unlabelled: drop``)."""
    y = bank.track_labels(i)
    return y[views[i]] if i in views else y


def held_out_probs(sub: Path, bank: FeatureBank, held: Sequence[str]) -> Labelled:
    """A sub-run's last checkpoint on the tracks it held out (standardised with its own statistics)."""
    run = RunFolder(sub)
    cfg = run.read_config().resolved()
    d, m, t = cfg.data, cfg.model, cfg.train
    builder = BatchBuilder(bank, Standardizer.load(run.stats), m.segment or 1, d.present_flags,
                           unlabelled=d.unlabelled, pad=d.pad, normalize=d.normalize,
                           speech_gate=d.speech_gate)
    model = load_run_network(sub, builder.input_dim, m, ["expr"], "last")
    ids = bank.ids(list(held))
    probs = predict_probs(model, builder, bank, ids, m, t.eval_batch_size or t.batch_size, torch.device("cpu"))
    return {bank.tracks[i]: (probs[i], frame_labels(bank, i, builder.views)) for i in ids}


def out_of_fold(cfg: RunConfig, bank: FeatureBank, train: Sequence[str], root: Path, folds: int,
                reporter: Reporter, execute: Callable[..., Any], cache_name: str = "probs.npz") -> Labelled:
    """Every training track's probabilities from a sub-run that did not train on its source video
    (``execute``: :func:`exprnet.training.experiment.execute`, given by the caller: experiment
    imports the trainer, which imports this), kept in ``root/cache_name`` (a blended run keeps the
    network's in ``network.npz`` and the blend's, what the run predicts, in ``probs.npz``)."""
    cache = root / cache_name
    if cache.exists():
        with np.load(cache) as z:
            if set(z.files) == {f"{p}:{t}" for t in train for p in ("p", "y")}:
                return {t: (z[f"p:{t}"], z[f"y:{t}"]) for t in train}
    out: Labelled = {}
    groups = track_groups(list(train), folds, source_video)
    for k, g in enumerate(groups, start=1):
        held = [train[i] for i in g]
        rest = [t for t in train if t not in set(held)]
        reporter.message(f"out-of-fold sub-run {k}/{len(groups)}: {len(rest)} training tracks, {len(held)} held out")
        split = Split(rest, held)
        execute(sub_config(cfg, rest, held), root / f"fold{k}", reporter, existing="skip",
                prepared=Prepared(bank, split, {}), split=split)
        out.update(held_out_probs(root / f"fold{k}", bank, held))
    save_labelled(cache, out)
    return out


def save_labelled(path: Path, out: Labelled) -> None:
    buf = io.BytesIO()
    np.savez(buf, **{f"p:{t}": p for t, (p, _) in out.items()}, **{f"y:{t}": y for t, (_, y) in out.items()})
    atomic_write_bytes(path, buf.getvalue())


def fit_after_training(cfg: RunConfig, bank: FeatureBank, train_ids: Sequence[int], val_ids: Sequence[int],
                       probs: ProbsOf, views: dict[int, np.ndarray], run_root: Path, reporter: Reporter,
                       execute: Callable[..., Any] | None = None) -> dict[str, Any]:
    """Calibration and ``smooth:`` of the run in ``run_root`` (its best checkpoint's weights behind
    ``probs``; ``views``: the rows it predicts of tracks whose -1 frames it drops); returns what
    metrics.json records as ``smoothing``."""
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
                          "network.npz" if blending else "probs.npz")
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
