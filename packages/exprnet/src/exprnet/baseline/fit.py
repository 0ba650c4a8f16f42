"""``exprnet baseline``: a class-balanced per-frame classifier, then temporal smoothing.

1. Frames are the model's inputs (same features, ``data.normalize`` and present flags).
2. The classifier (:mod:`exprnet.baseline.classifier`) is fitted on the labelled training frames (a
   random subset of ``baseline.max_frames`` beyond that).
3. The smoothing width (``smooth:``; ``auto`` by default) is chosen by cross-validation on the
   training tracks: ``baseline.folds`` groups by source video; each group's probabilities come
   from a classifier fitted on the other groups, and the width with the best F1 over all these
   out-of-fold probabilities wins. The validation tracks are only scored.

It writes a normal run folder (config.yaml, tracks.json, stats.npz, metrics.json,
confusion.png, and ``checkpoints/baseline.npz`` instead of a network), so ``predict``,
``ensemble`` and ``report`` take it like any run.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from featurizer.core.annotations import source_video

from ..config import CLASSES, N_CLASSES, BaselineConfig, RunConfig
from ..data.bank import FeatureBank, Standardizer
from ..data.batches import BatchBuilder
from ..data.provenance import feature_records
from ..data.splits import track_groups
from ..errors import DataError, RunError
from ..postprocess.smoothing import SmoothSpec, choose_k, from_config, smooth
from ..reports.metrics import confusion, per_class_f1
from ..reports.plots import plot_confusion
from ..reports.progress import NullReporter, Reporter
from ..training.runfolder import RunFolder
from .classifier import FrameClassifier

Probs = dict[int, np.ndarray]


def baseline_file(run: str | Path) -> Path:
    return Path(run) / "checkpoints" / "baseline.npz"


def is_baseline(run: str | Path) -> bool:
    return baseline_file(run).exists()


def make_builder(cfg: RunConfig, bank: FeatureBank, stats: Standardizer) -> BatchBuilder:
    return BatchBuilder(bank, stats, 1, cfg.data.present_flags, normalize=cfg.data.normalize)


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


def score(bank: FeatureBank, probs: Probs, spec: SmoothSpec) -> np.ndarray:
    """Confusion matrix of the (smoothed) probabilities on the labelled frames."""
    cm = np.zeros((N_CLASSES, N_CLASSES), np.int64)
    for i, p in probs.items():
        cm += confusion(bank.track_labels(i), smooth(p, spec.width or 0, spec.kind).argmax(1))
    return cm


def evaluate_baseline(cfg: RunConfig, bank: FeatureBank, train: Sequence[str], val: Sequence[str],
                      reporter: Reporter | None = None) -> tuple[FrameClassifier, Standardizer, dict[str, Any]]:
    """Fit on ``train``, choose the width on ``train`` (cross-validated), score on ``val``."""
    reporter = reporter or NullReporter()
    bc = cfg.baseline or BaselineConfig()
    seed, threads = cfg.train.seed, cfg.train.threads  # BLAS threads: train.threads (None: all)
    stats = Standardizer.fit(bank, bank.ids(train))
    builder = make_builder(cfg, bank, stats)
    spec = from_config(cfg.smooth.kind, cfg.smooth.width)
    scores: dict[int, float] = {}
    if spec.auto:
        oof = out_of_fold(bc, builder, train, seed, reporter, threads)
        k, scores = choose_k([oof[i] for i in bank.ids(train)], [bank.track_labels(i) for i in bank.ids(train)],
                             spec.kind)
        spec = SmoothSpec(spec.kind, k)
    reporter.start(f"baseline: {bc.classifier} on the training tracks", 2)
    clf = fit_classifier(bc, builder, bank.ids(train), seed, threads)
    reporter.advance(1)
    probs = track_probs(clf, builder, bank.ids(val))
    reporter.advance(1)
    reporter.stop()
    raw, smoothed = per_class_f1(score(bank, probs, SmoothSpec())), score(bank, probs, spec)
    pc = per_class_f1(smoothed)
    metrics = {
        "kind": "baseline", "classifier": bc.classifier, "encoder": cfg.model_name,
        "best_val_f1": float(pc.mean()), "best_epoch": 0, "val_f1_raw": float(raw.mean()),
        "val_f1_smoothed": float(pc.mean()), "per_class_f1": dict(zip(CLASSES, pc.tolist(), strict=True)),
        "per_class_f1_raw": dict(zip(CLASSES, raw.tolist(), strict=True)), "val_confusion": smoothed.tolist(),
        "smoothing": {"kind": spec.kind, "width": spec.width,
                      "chosen_on": f"training tracks, {bc.folds}-fold cross-validation by source video"
                      if scores else "fixed",
                      "train_f1_by_width": {str(k): v for k, v in scores.items()}},
        "train_cv_f1": scores.get(spec.width or 0) if scores else None,
        "finished": True, "train_tracks": len(train), "val_tracks": len(val),
        "train_labelled_frames": bank.labelled(bank.ids(train)), "val_labelled_frames": bank.labelled(bank.ids(val)),
        "features": bank.features, "normalize": cfg.data.normalize,
    }
    return clf, stats, metrics


def write_baseline_run(cfg: RunConfig, out: str | Path, clf: FrameClassifier, stats: Standardizer,
                       metrics: dict[str, Any], bank: FeatureBank, train: Sequence[str], val: Sequence[str]
                       ) -> RunFolder:
    """A run folder like a network's: config, tracks, feature provenance, stats, model, metrics, plot."""
    run = RunFolder(out)
    if run.in_use() or is_baseline(out):
        raise RunError(str(out), "holds a run already", "choose another --out")
    run.create(cfg, list(train), list(val))
    run.write_features(feature_records(bank, cfg.data.store))
    stats.save(run.stats)
    clf.save(baseline_file(out))
    run.write_metrics(metrics)
    plot_confusion(np.array(metrics["val_confusion"]), run.confusion_png,
                   f"validation, {cfg.model_name} + smoothing {metrics['smoothing']['kind']} "
                   f"+-{metrics['smoothing']['width']}")
    return run


def baseline_probs(clf: FrameClassifier, cfg: RunConfig, stats: Standardizer, bank: FeatureBank,
                   ids: Sequence[int]) -> Probs:
    """Unsmoothed probabilities of a fitted baseline (its config and statistics) on ``ids`` of ``bank``."""
    return track_probs(clf, make_builder(cfg, bank, stats), ids)


def run_baseline(cfg: RunConfig, out: str | Path, reporter: Reporter | None = None) -> dict[str, Any]:
    """``exprnet baseline``: load the split, fit, score, write the run folder; returns its metrics."""
    from ..training.experiment import load_data

    reporter = reporter or NullReporter()
    if RunFolder(out).in_use() or is_baseline(out):
        raise RunError(str(out), "holds a run already", "choose another --out")
    cfg = cfg.resolved()
    if cfg.baseline is None:
        cfg.baseline = BaselineConfig()
    prep = load_data(cfg, reporter)
    clf, stats, metrics = evaluate_baseline(cfg, prep.bank, prep.split.train, prep.split.val, reporter)
    write_baseline_run(cfg, out, clf, stats, metrics, prep.bank, prep.split.train, prep.split.val)
    return metrics
