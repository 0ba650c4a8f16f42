"""Predict with a trained run: per-frame probabilities per track and the ABAW submission file.

    OUT/probs/<track>.npy      (n, 8) float32, row i = frame f"{i + 1:05d}.jpg"
    OUT/submission.txt         image_location,Neutral,...,Other / <track>/00001.jpg,<label 0-7>
    OUT/metrics.json           only with --labels: F1 on the labelled frames

Every stored row of every requested track gets a line (the store rows are the frames).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from featurizer.core.annotations import find_annotations, read_annotation
from featurizer.core.device import resolve_device
from featurizer.core.files import atomic_write_bytes, atomic_write_json, atomic_write_text
from featurizer.core.store import FeatureStore

from ..baseline.classifier import FrameClassifier
from ..baseline.fit import baseline_file, baseline_probs
from ..config import CLASSES, N_CLASSES, RunConfig
from ..data.bank import FeatureBank, Standardizer, load_bank
from ..data.batches import BatchBuilder, flag_columns, input_dim
from ..data.provenance import check_features
from ..data.tasks import expr_labels_dir
from ..errors import DataError, RunError
from ..models.blend import Blend, build_network, read_blend
from ..models.inference import predict_probs
from ..postprocess.calibration import read_calibration
from ..postprocess.choice import TrainingTracks, apply_all, chain_dicts, post_for_run
from ..postprocess.priors import trained_prior
from ..reports.metrics import confusion, per_class_f1
from ..reports.progress import NullReporter, Reporter
from ..training.losses import class_counts
from ..training.runfolder import RunFolder

HEADER = "image_location," + ",".join(CLASSES)


@dataclass
class LoadedRun:
    """What predicts: a network's weights (``state``) or a baseline's ``classifier``, with the
    config, the normalisation statistics and the recorded feature provenance; from a run folder
    (``run``) or from a bundle member (``run`` None, ``source`` names it)."""

    cfg: RunConfig
    stats: Standardizer
    state: dict
    run: RunFolder | None
    features: dict[str, Any] | None = None
    classifier: FrameClassifier | None = None
    source: str = ""
    blend: Blend | None = None  # ``smooth.baseline: auto``: the network's partner (:mod:`exprnet.models.blend`)

    def __post_init__(self) -> None:
        self.source = self.source or (str(self.run.root) if self.run is not None else "model")


def load_run(run_dir: str | Path, checkpoint: str = "best") -> LoadedRun:
    run = RunFolder(run_dir)
    cfg = run.read_config().resolved()
    if not run.stats.exists():
        raise RunError(str(run_dir), "has no stats.npz", "is it a complete run folder?")
    if checkpoint not in ("best", "last"):
        raise RunError(f"--checkpoint {checkpoint}", "expected best or last")
    if cfg.baseline is not None:  # a baseline: no network
        return LoadedRun(cfg, Standardizer.load(run.stats), {}, run, run.read_features(),
                         FrameClassifier.load(baseline_file(run.root)))
    ckpt = run.load(checkpoint)
    if ckpt.get("tasks", ["expr"]) != ["expr"]:
        raise RunError(str(run_dir), f"is a multi-task run ({', '.join(ckpt['tasks'])}); predict, ensemble and bundle "
                                     "take EXPR-only runs for now", "its validation scores are in its metrics.json")
    return LoadedRun(cfg, Standardizer.load(run.stats), ckpt["model"], run, run.read_features(),
                     blend=read_blend(run.root))


class Predictor:
    """A loaded run ready to predict banks of tracks: the network is built and placed once, on the
    first bank (its input width comes from the bank's features and present flags), or given as
    ``net`` (already loaded with ``lr.state``: a bundle member built once, when its weights were checked)."""

    def __init__(self, lr: LoadedRun, device: str = "auto", net: torch.nn.Module | None = None):
        self.lr, self.device, self._net = lr, device, net
        self._model: tuple[torch.nn.Module, torch.device] | None = None
        self._lock = threading.Lock()  # a server's threads share one Predictor

    def model(self, bank: FeatureBank) -> tuple[torch.nn.Module, torch.device]:
        with self._lock:
            return self._build(bank)

    def _build(self, bank: FeatureBank) -> tuple[torch.nn.Module, torch.device]:
        if self._model is None:
            cfg = self.lr.cfg
            dev = resolve_device(self.device)
            if cfg.train.threads:
                torch.set_num_threads(cfg.train.threads)
            net = self._net
            if net is None:
                net = build_network(input_dim(bank.dim, len(flag_columns(bank, cfg.data.present_flags))), cfg.model,
                                    ["expr"], self.lr.state, self.lr.blend)
            self._model = (net.to(dev), dev)
        return self._model

    def probs(self, bank: FeatureBank, reporter: Reporter | None = None) -> dict[int, np.ndarray]:
        """Unsmoothed (n, 8) probabilities of every track of ``bank``, by bank index."""
        reporter = reporter or NullReporter()
        cfg = self.lr.cfg
        if self.lr.classifier is not None:
            return baseline_probs(self.lr.classifier, cfg, self.lr.stats, bank, range(len(bank.tracks)))
        model, dev = self.model(bank)
        reporter.start("predict", None)
        try:
            return track_probs(model, bank, self.lr.stats, cfg, dev, reporter)
        finally:
            reporter.stop()


def check_bank(lr: LoadedRun, bank: FeatureBank, store: str, allow_feature_mismatch: bool = False) -> None:
    """Refuse a bank whose features were made differently from the run's, or are not its width."""
    check_features(lr.features, bank.identities, store, lr.source, allow_feature_mismatch)
    if list(bank.dims) != list(lr.stats.dims):
        raise DataError(store, f"feature dims {bank.dims} differ from the run's {lr.stats.dims}",
                        f"the run was trained on {', '.join(lr.cfg.data.features)} with other extractors")


def resolve_tracks(arg: str, reader: FeatureStore) -> list[str]:
    """A folder (annotation ``.txt`` stems, else sub-folder names), a file with one track per
    line, ``all`` (every store track), or comma-separated names."""
    p = Path(arg)
    if arg == "all":
        names = reader.tracks()
    elif p.is_dir():
        names = sorted({f.stem for f in p.rglob("*.txt")}) or sorted(d.name for d in p.iterdir() if d.is_dir())
    elif p.is_file():
        names = []
        for line in p.read_text().splitlines():
            s = line.strip().split(",")[0].strip().rstrip("/")
            if s and not s.startswith("#") and s != "image_location":
                names.append(s[:-4] if s.endswith(".txt") else s)
    else:
        names = [s.strip() for s in arg.split(",") if s.strip()]
    if not names:
        raise DataError(f"--tracks {arg}", "names no track")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise DataError(f"--tracks {arg}", f"lists track(s) twice: {', '.join(dup[:8])}")
    return list(names)


def write_submission(path: str | Path, items: Iterable[tuple[str, np.ndarray]]) -> int:
    """``items``: (track, per-frame labels 0-7). Returns the number of frame lines."""
    lines = [HEADER]
    for track, labels in items:
        lines.extend(f"{track}/{i:05d}.jpg,{int(v)}" for i, v in enumerate(labels, start=1))
    atomic_write_text(path, "\n".join(lines) + "\n")
    return len(lines) - 1


def read_submission(path: str | Path) -> dict[str, np.ndarray]:
    """Inverse of :func:`write_submission` (checks the header and frame numbering)."""
    lines = Path(path).read_text().splitlines()
    if not lines or lines[0].strip() != HEADER:
        raise DataError(str(path), "first line is not the submission header", HEADER)
    out: dict[str, list[int]] = {}
    for k, line in enumerate(lines[1:], start=2):
        loc, _, lab = line.partition(",")
        track, _, frame = loc.rpartition("/")
        got = out.setdefault(track, [])
        if frame != f"{len(got) + 1:05d}.jpg":
            raise DataError(str(path), f"line {k}: expected frame {len(got) + 1:05d}.jpg of {track}, got {frame}")
        got.append(int(lab))
    return {t: np.array(v, np.int64) for t, v in out.items()}


def run_probs(lr: LoadedRun, store: str, names: Sequence[str], labels: dict[str, np.ndarray] | None,
              device: str, reporter: Reporter, labels_dir: str | None = None,
              allow_feature_mismatch: bool = False) -> tuple[FeatureBank, dict[int, np.ndarray]]:
    """Unsmoothed per-frame probabilities of a run (network or baseline) on tracks of a store;
    refuses a store whose features were made differently from the run's unless
    ``allow_feature_mismatch``."""
    cfg = lr.cfg
    reader = FeatureStore(store, mode="r")
    reporter.start("load features", len(names))
    try:
        memmap = f"{cfg.data.memmap}.predict.npy" if cfg.data.memmap else None  # never the training one
        bank = load_bank(reader, cfg.data.features, names, labels, "error", memmap,
                         progress=lambda t: reporter.advance(1), labels_dir=labels_dir)
    finally:
        reporter.stop()
    check_bank(lr, bank, store, allow_feature_mismatch)
    return bank, Predictor(lr, device).probs(bank, reporter)


def training_tracks(lr: LoadedRun, device: str, reporter: Reporter) -> TrainingTracks:
    """The run's probabilities and labels on its own training tracks: out of fold where the run kept
    them (``RUN/oof/probs.npz``: a baseline's cross-validation, a network's ``smooth.folds``), else
    predicted now by the run itself (in-sample)."""
    cfg = lr.cfg
    assert lr.run is not None
    train = lr.run.read_tracks()["train"]
    files = find_annotations(expr_labels_dir(cfg.data.labels, "exprnet predict"), (cfg.data.train_split, cfg.data.val_split))
    labels = {t: read_annotation(files[t].path) for t in train if t in files}
    prior = trained_prior(cfg, class_counts(list(labels.values())))
    cache = lr.run.root / "oof" / "probs.npz"
    if cache.exists():
        with np.load(cache) as z:
            names = [t for t in train if f"p:{t}" in z.files]
            return TrainingTracks(names, [z[f"p:{t}"] for t in names], [z[f"y:{t}"] for t in names], prior,
                                  "out of fold (kept by the run)")
    bank, probs = run_probs(lr, str(cfg.data.store), train, labels, device, reporter)
    ids = range(len(bank.tracks))
    return TrainingTracks(list(bank.tracks), [probs[i] for i in ids], [bank.track_labels(i) for i in ids], prior,
                          "in-sample (the run's predictions on its training tracks)")


def predict(run_dir: str | Path, store: str, tracks: Sequence[str] | str, out: str | Path,
            checkpoint: str = "best", labels_dir: str | Sequence[str] | None = None, device: str = "auto",
            reporter: Reporter | None = None, smooth: str = "run", allow_feature_mismatch: bool = False) -> dict:
    """Write probabilities and the submission of ``tracks`` (see the module doc). ``smooth``:
    ``run`` (as the run recorded), or a spec of :func:`exprnet.postprocess.decoding.parse`; the
    run's calibration (``RUN/calibration.json``) comes first. With a decoder, ``probs/`` holds its
    per-frame posteriors and the submission its decoded path. (A multi-task run:
    :func:`exprnet.prediction.tasks.predict_tasks`.)"""
    reporter = reporter or NullReporter()
    labels_dir = expr_labels_dir(labels_dir, "exprnet predict on an EXPR-only run") if labels_dir else None
    lr = load_run(run_dir, checkpoint)
    assert lr.run is not None
    reader = FeatureStore(store, mode="r")
    names = resolve_tracks(tracks, reader) if isinstance(tracks, str) else list(tracks)
    labels = None
    if labels_dir:
        files = find_annotations(labels_dir)
        labels = {t: read_annotation(files[t].path) for t in names if t in files}
    cal = read_calibration(lr.run.root) if smooth != "none" else None
    proc, smoothing = post_for_run(lr.run.recorded_smoothing(), smooth, lambda: training_tracks(lr, device, reporter),
                                   cal)
    bank, probs = run_probs(lr, store, names, labels, device, reporter, labels_dir, allow_feature_mismatch)
    decoded = apply_all(proc, [probs[i] for i in range(len(bank.tracks))], cal)
    out = Path(out)
    (out / "probs").mkdir(parents=True, exist_ok=True)
    items = []
    for t, d in zip(bank.tracks, decoded, strict=True):
        atomic_write_bytes(out / "probs" / f"{t}.npy", _npy_bytes(d.probs.astype(np.float32)))
        items.append((t, d.labels))
    n_lines = write_submission(out / "submission.txt", items)
    summary: dict = {"tracks": len(bank.tracks), "frames": n_lines, "run": str(run_dir),
                     "checkpoint": checkpoint, "smoothing": smoothing,
                     "calibration": None if cal is None else cal.to_dict(),
                     "postprocess": chain_dicts(cal, proc)}
    if labels:
        cm = np.zeros((N_CLASSES, N_CLASSES), np.int64)
        for i, d in enumerate(decoded):
            cm += confusion(bank.track_labels(i), d.labels)
        pc = per_class_f1(cm)
        summary.update({"f1": float(pc.mean()), "per_class_f1": dict(zip(CLASSES, pc.tolist(), strict=True)),
                        "labelled_frames": int(cm.sum())})
        atomic_write_json(out / "metrics.json", summary)
    return summary


def track_probs(model: torch.nn.Module, bank: FeatureBank, stats: Standardizer, cfg: RunConfig, dev: torch.device,
                reporter: Reporter) -> dict[int, np.ndarray]:
    """Probabilities of every row of every bank track. A run trained with ``data.unlabelled: drop``
    sees a labelled track's labelled frames only (as it was validated); its -1 frames, which no
    score counts, come from a second pass over the whole track."""
    def run(unlabelled: str, ids: Sequence[int]) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
        builder = BatchBuilder(bank, stats, cfg.model.segment or 1, cfg.data.present_flags,
                               unlabelled=unlabelled, pad=cfg.data.pad, normalize=cfg.data.normalize,
                               speech_gate=cfg.data.speech_gate)
        return predict_probs(model, builder, bank, ids, cfg.model, cfg.train.eval_batch_size or cfg.train.batch_size,
                             dev, cfg.train.amp and dev.type == "cuda", on_batch=reporter.update), builder.views

    probs, views = run(cfg.data.unlabelled, range(len(bank.tracks)))
    if views:
        whole, _ = run("context", list(views))
        for i, rows in views.items():
            dropped = np.ones(bank.length(i), bool)
            dropped[rows] = False
            probs[i][dropped] = whole[i][dropped]
    return probs


def _npy_bytes(a: np.ndarray) -> bytes:
    import io

    b = io.BytesIO()
    np.save(b, a)
    return b.getvalue()
