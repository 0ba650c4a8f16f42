"""``exprnet baseline``: a class-balanced per-frame classifier, then calibration and smoothing or decoding.

1. Frames are the model's inputs (same features, ``data.normalize`` and present flags).
2. The classifier (:mod:`exprnet.baseline.classifier`) is fitted on the labelled training frames (a
   random subset of ``baseline.max_frames`` beyond that).
3. Out-of-fold training probabilities: ``baseline.folds`` groups of training tracks by source
   video, each group's from a classifier fitted on the other groups. On them: the calibration
   (``smooth.calibrate``) and ``smooth:`` (a smoothing width, or a decoder's chain and, with
   ``auto``, its weight and balance cross-validated over the same groups;
   :mod:`exprnet.postprocess.choice`). The validation tracks are only scored.

It writes a normal run folder (config.yaml, tracks.json, stats.npz, metrics.json, calibration.json,
confusion.png, ``oof/probs.npz``, and ``checkpoints/baseline.npz`` instead of a network), so ``predict``,
``ensemble`` and ``report`` take it like any run.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from featurizer.core.annotations import source_video
from featurizer.core.files import atomic_write_bytes

from ..config import CLASSES, N_CLASSES, BaselineConfig, RunConfig
from ..data.bank import FeatureBank, Standardizer
from ..data.batches import BatchBuilder
from ..data.provenance import feature_records
from ..data.splits import track_groups
from ..errors import ConfigError, DataError, RunError
from ..postprocess.calibration import Calibration, ece, resolve_mode, write_calibration
from ..postprocess.choice import Fitted, apply_all, describe_record, fit_postprocess
from ..postprocess.decoding import DecodeSpec, spec_from_config
from ..reports.metrics import confusion, per_class_f1
from ..reports.plots import plot_confusion
from ..reports.progress import NullReporter, Reporter
from ..training.runfolder import RunFolder
from .classifier import FrameClassifier

Probs = dict[int, np.ndarray]


def baseline_file(run: str | Path) -> Path:
    return Path(run) / "checkpoints" / "baseline.npz"


def is_baseline(run: str | Path) -> bool:
    """An EXPR baseline's run folder (VA/AU baselines: :func:`exprnet.baseline.tasks.baseline_tasks`)."""
    return baseline_file(run).exists()


def make_builder(cfg: RunConfig, bank: FeatureBank, stats: Standardizer) -> BatchBuilder:
    return BatchBuilder(bank, stats, 1, cfg.data.present_flags, normalize=cfg.data.normalize,
                        speech_gate=cfg.data.speech_gate)


def labelled_frames(builder: BatchBuilder, ids: Sequence[int], max_frames: int, seed: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and labels of the labelled frames of ``ids`` (a random ``max_frames`` of them at most)."""
    bank = builder.bank
    per = [np.flatnonzero(bank.track_labels(i) >= 0) for i in ids]
    total = sum(len(p) for p in per)
    if total == 0:
        raise DataError("training tracks", "have no labelled frame to fit the baseline on")
    keep = 1.0 if total <= max_frames else max_frames / total
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for i, rows in zip(ids, per, strict=True):
        if keep < 1.0:
            rows = rows[rng.random(len(rows)) < keep]
        if len(rows):
            xs.append(builder.inputs(i)[rows])
            ys.append(bank.track_labels(i)[rows].astype(np.int64))
    x, y = np.concatenate(xs), np.concatenate(ys)
    if len(np.unique(y)) < 2:
        raise DataError("training tracks", f"hold only one class ({CLASSES[int(y[0])]}) among labelled frames",
                        "the baseline needs at least two classes")
    return x, y


def track_probs(clf: FrameClassifier, builder: BatchBuilder, ids: Sequence[int]) -> Probs:
    return {i: clf.predict_proba(builder.inputs(i)) for i in ids}


def fit_classifier(bc: BaselineConfig, builder: BatchBuilder, ids: Sequence[int], seed: int,
                   threads: int | None = None) -> FrameClassifier:
    x, y = labelled_frames(builder, ids, bc.max_frames, seed)
    return FrameClassifier.fit(bc.classifier, x, y, seed=seed, hidden=bc.hidden, threads=threads)


def out_of_fold(bc: BaselineConfig, builder: BatchBuilder, train: Sequence[str], seed: int,
                reporter: Reporter, threads: int | None = None) -> Probs:
    """Probabilities of every training track from a classifier that did not see its source video."""
    bank = builder.bank
    groups = track_groups(list(train), bc.folds, source_video)
    if len(groups) < 2:
        raise DataError("training tracks", f"come from {len(groups)} source video(s)",
                        "cross-validating the smoothing width needs two; give a fixed width, e.g. --smooth box:12")
    out: Probs = {}
    reporter.start("baseline: cross-validation", len(groups))
    for g in groups:
        held = set(g)
        fit_ids = bank.ids([t for k, t in enumerate(train) if k not in held])
        clf = fit_classifier(bc, builder, fit_ids, seed, threads)
        out.update(track_probs(clf, builder, bank.ids([train[k] for k in g])))
        reporter.advance(1)
    reporter.stop()
    return out


def score(bank: FeatureBank, labels: Sequence[np.ndarray], ids: Sequence[int]) -> np.ndarray:
    """Confusion matrix of per-track predicted ``labels`` on the labelled frames of ``ids``."""
    cm = np.zeros((N_CLASSES, N_CLASSES), np.int64)
    for i, y in zip(ids, labels, strict=True):
        cm += confusion(bank.track_labels(i), y)
    return cm


@dataclass
class BaselineFit:
    """A fitted baseline: the classifier, its statistics, what metrics.json records, the fitted
    post-processing and the out-of-fold training probabilities it was fitted on (None if not needed)."""

    clf: FrameClassifier
    stats: Standardizer
    metrics: dict[str, Any]
    post: Fitted
    oof: Probs | None


def evaluate_baseline(cfg: RunConfig, bank: FeatureBank, train: Sequence[str], val: Sequence[str],
                      reporter: Reporter | None = None) -> BaselineFit:
    """Fit on ``train``; calibration and ``smooth:`` on ``train``'s out-of-fold probabilities
    (cross-validated by source video); score on ``val``."""
    reporter = reporter or NullReporter()
    bc = cfg.baseline or BaselineConfig()
    seed, threads = cfg.train.seed, cfg.train.threads  # BLAS threads: train.threads (None: all)
    stats = Standardizer.fit(bank, bank.ids(train))
    builder = make_builder(cfg, bank, stats)
    spec = spec_from_config(cfg.smooth.kind, cfg.smooth.width, cfg.smooth.weight)
    tids = bank.ids(train)
    tlabels = [bank.track_labels(i) for i in tids]
    oof = None
    calibrate = resolve_mode(cfg.smooth.calibrate, True)  # out of fold
    need = isinstance(spec, DecodeSpec) or spec.auto or calibrate != "none"
    if need:
        oof = out_of_fold(bc, builder, train, seed, reporter, threads)
        source = f"out of fold ({bc.folds} groups of training tracks by source video)"
        post = fit_postprocess(spec, calibrate, [oof[i] for i in tids], tlabels,
                               track_groups(list(train), bc.folds, source_video), np.full(N_CLASSES, 1 / N_CLASSES),
                               source, seed)
    else:
        post = Fitted(Calibration(), spec, {**spec.to_dict(), "chosen_on": "fixed"})
    reporter.start(f"baseline: {bc.classifier} on the training tracks", 2)
    clf = fit_classifier(bc, builder, tids, seed, threads)
    reporter.advance(1)
    vids = bank.ids(val)
    probs = track_probs(clf, builder, vids)
    reporter.advance(1)
    reporter.stop()
    vp = [probs[i] for i in vids]
    raw = per_class_f1(score(bank, [p.argmax(1) for p in vp], vids))
    cm = score(bank, [d.labels for d in apply_all(post.processor, vp, post.calibration)], vids)
    pc = per_class_f1(cm)
    vy = [bank.track_labels(i) for i in vids]
    rec = post.record
    cv = rec.get("cv_f1") if "cv_f1" in rec else (rec.get("train_f1_by_width") or {}).get(str(rec.get("width")))
    metrics = {
        "kind": "baseline", "classifier": bc.classifier, "encoder": cfg.model_name,
        "best_val_f1": float(pc.mean()), "best_epoch": 0, "val_f1_raw": float(raw.mean()),
        "val_f1_smoothed": float(pc.mean()), "per_class_f1": dict(zip(CLASSES, pc.tolist(), strict=True)),
        "per_class_f1_raw": dict(zip(CLASSES, raw.tolist(), strict=True)), "val_confusion": cm.tolist(),
        "smoothing": rec, "train_cv_f1": cv, "postprocess": post.chain,
        "val_ece_before": ece(vp, vy), "val_ece_after": ece([post.calibration.calibrate(p) for p in vp], vy),
        "finished": True, "train_tracks": len(train), "val_tracks": len(val),
        "train_labelled_frames": bank.labelled(tids), "val_labelled_frames": bank.labelled(vids),
        "features": bank.features, "normalize": cfg.data.normalize,
    }
    return BaselineFit(clf, stats, metrics, post, oof)


def write_baseline_run(cfg: RunConfig, out: str | Path, fit: BaselineFit, bank: FeatureBank, train: Sequence[str],
                       val: Sequence[str]) -> RunFolder:
    """A run folder like a network's: config, tracks, feature provenance, stats, model, metrics, plot,
    the calibration and the out-of-fold training probabilities (``RUN/oof/probs.npz``)."""
    clf, stats, metrics = fit.clf, fit.stats, fit.metrics
    run = RunFolder(out)
    if run.in_use() or is_baseline(out):
        raise RunError(str(out), "holds a run already", "choose another --out")
    run.create(cfg, list(train), list(val))
    run.write_features(feature_records(bank, cfg.data.store))
    stats.save(run.stats)
    clf.save(baseline_file(out))
    run.write_metrics(metrics)
    write_calibration(out, fit.post.calibration, metrics["smoothing"]["calibration"] if "calibration" in
                      metrics["smoothing"] else {"mode": "none"})
    if fit.oof is not None:
        buf = io.BytesIO()
        np.savez(buf, **{f"p:{bank.tracks[i]}": p for i, p in fit.oof.items()},
                 **{f"y:{bank.tracks[i]}": bank.track_labels(i) for i in fit.oof})
        atomic_write_bytes(Path(out) / "oof" / "probs.npz", buf.getvalue())
    plot_confusion(np.array(metrics["val_confusion"]), run.confusion_png,
                   f"validation, {cfg.model_name} + {describe_record(metrics['smoothing'])}")
    return run


def baseline_probs(clf: FrameClassifier, cfg: RunConfig, stats: Standardizer, bank: FeatureBank,
                   ids: Sequence[int]) -> Probs:
    """Unsmoothed probabilities of a fitted baseline (its config and statistics) on ``ids`` of ``bank``."""
    return track_probs(clf, make_builder(cfg, bank, stats), ids)


def run_baseline(cfg: RunConfig, out: str | Path, reporter: Reporter | None = None) -> dict[str, Any]:
    """``exprnet baseline``: load the split, fit, score, write the run folder; returns its metrics."""
    from ..data.prepare import load_data

    reporter = reporter or NullReporter()
    if RunFolder(out).in_use() or is_baseline(out):
        raise RunError(str(out), "holds a run already", "choose another --out")
    cfg = cfg.resolved()
    if cfg.baseline is None:
        cfg.baseline = BaselineConfig()
    prep = load_data(cfg, reporter)
    if prep.tasks != ["expr"]:
        raise ConfigError("--labels", "run_baseline fits EXPR alone", "VA/AU: exprnet.baseline.multi.run_baselines")
    fit = evaluate_baseline(cfg, prep.bank, prep.split.train, prep.split.val, reporter)
    write_baseline_run(cfg, out, fit, prep.bank, prep.split.train, prep.split.val)
    return fit.metrics
