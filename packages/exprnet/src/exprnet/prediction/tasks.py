"""Predict with a multi-task run: each task's per-frame arrays and ABAW submission file.

    OUT/probs/<track>.npy     (n, 8) EXPR posteriors           OUT/submission.txt      (EXPR labels 0-7)
    OUT/va/<track>.npy        (n, 2) valence, arousal          OUT/submission_va.txt   (exprnet.tasks.submission)
    OUT/au/<track>.npy        (n, 12) AU probabilities         OUT/submission_au.txt   (0/1 after the thresholds)
    OUT/metrics.json          only with --labels (one folder per task): each given task's score

for the tasks the run was trained on, after the post-processing the run fitted on its training
tracks (:mod:`.run_post`: EXPR's calibration and decoding, VA's smoothing, AU's per-AU smoothing
and thresholds; raw where it fitted none). The scores are computed from exactly what the files hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from featurizer.core.device import resolve_device
from featurizer.core.files import atomic_write_bytes, atomic_write_json
from featurizer.core.store import FeatureStore

from ..config import CLASSES, N_CLASSES
from ..data.bank import Standardizer, load_bank
from ..data.batches import flag_columns, input_dim
from ..data.provenance import check_features
from ..data.tasks import find_task_files
from ..errors import DataError
from ..models.blend import build_network, read_blend
from ..reports.metrics import confusion, per_class_f1
from ..reports.progress import NullReporter, Reporter
from ..tasks.metrics import au_scores, va_scores
from ..tasks.submission import AU_FILE, VA_FILE, write_au_submission, write_va_submission
from ..training.runfolder import RunFolder
from .predict import _npy_bytes, resolve_tracks, track_probs, write_submission
from .run_post import RunPost

FOLDERS = {"expr": "probs", "va": "va", "au": "au"}


def run_tasks(run_dir: str | Path, checkpoint: str = "best") -> list[str]:
    """The tasks a run's checkpoint was trained on (``["expr"]`` for an EXPR-only run)."""
    from ..baseline.tasks import baseline_tasks

    if baseline_tasks(run_dir):  # a VA/AU baseline (EXPR too where checkpoints/baseline.npz is there)
        from ..baseline.fit import is_baseline

        return (["expr"] if is_baseline(run_dir) else []) + baseline_tasks(run_dir)
    run = RunFolder(run_dir)
    path = run.checkpoint(checkpoint)
    if not path.exists():
        return ["expr"]  # load_run says what is missing
    return list(run.load(checkpoint).get("tasks", ["expr"]))


def predict_tasks(run_dir: str | Path, store: str, tracks: Sequence[str] | str, out: str | Path,
                  checkpoint: str = "best", labels: Sequence[str] | None = None, device: str = "auto",
                  reporter: Reporter | None = None, allow_feature_mismatch: bool = False, raw: bool = False
                  ) -> dict[str, Any]:
    """``raw``: the network's own outputs, without the run's post-processing (benchmarks)."""
    from .baseline_tasks import is_task_baseline, predict_baseline_tasks

    if is_task_baseline(run_dir):  # a VA/AU baseline run folder
        summary, per, (tr, va) = predict_baseline_tasks(run_dir, store, tracks, out, reporter, allow_feature_mismatch,
                                                            raw)
        if labels:
            summary.update(score(labels, per, tr, va))
            atomic_write_json(Path(out) / "metrics.json", summary)
        return summary
    reporter = reporter or NullReporter()
    run = RunFolder(run_dir)
    cfg = run.read_config().resolved()
    ckpt = run.load(checkpoint)
    tasks = list(ckpt["tasks"])
    stats = Standardizer.load(run.stats)
    reader = FeatureStore(store, mode="r")
    names = resolve_tracks(tracks, reader) if isinstance(tracks, str) else list(tracks)
    bank = load_bank(reader, cfg.data.features, names, None, "error")
    check_features(run.read_features(), bank.identities, store, str(run_dir), allow_feature_mismatch)
    if list(bank.dims) != list(stats.dims):
        raise DataError(store, f"feature dims {bank.dims} differ from the run's {stats.dims}")
    net = build_network(input_dim(bank.dim, len(flag_columns(bank, cfg.data.present_flags))), cfg.model, tasks,
                        ckpt["model"], read_blend(run_dir))
    dev = resolve_device(device)
    reporter.start("predict", None)
    try:
        preds = track_probs(net.to(dev), bank, stats, cfg, dev, reporter)
    finally:
        reporter.stop()
    out = Path(out)
    per_task: dict[str, dict[str, np.ndarray]] = {}
    post = RunPost(tasks) if raw else RunPost.of(run_dir, tasks)
    for task, s in net.slices.items():
        (out / FOLDERS[task]).mkdir(parents=True, exist_ok=True)
        got = post.apply(task, [preds[i][:, s].astype(np.float32) for i in range(len(bank.tracks))])
        per_task[task] = {}
        for t, (kept, submitted) in zip(bank.tracks, got, strict=True):
            atomic_write_bytes(out / FOLDERS[task] / f"{t}.npy", _npy_bytes(np.asarray(kept, np.float32)))
            per_task[task][t] = submitted
    writers = {"expr": (write_submission, "submission.txt"), "va": (write_va_submission, VA_FILE),
               "au": (write_au_submission, AU_FILE)}
    summary: dict[str, Any] = {"tracks": len(bank.tracks), "run": str(run_dir), "checkpoint": checkpoint,
                               "tasks": tasks, "submissions": {}, **post.describe()}
    for task in tasks:
        write, name = writers[task]
        summary["frames"] = write(out / name, list(per_task[task].items()))
        summary["submissions"][task] = name
    if labels:
        summary.update(score(labels, per_task, cfg.data.train_split, cfg.data.val_split))
        atomic_write_json(out / "metrics.json", summary)
    return summary


def score(labels: Sequence[str], per_task: dict[str, dict[str, np.ndarray]], train_split: str,
          val_split: str) -> dict[str, Any]:
    """Each given task's score on the tracks it annotates, from what the submissions hold."""
    from featurizer.core.annotations import read_labels

    tf = find_task_files(labels, (train_split, val_split))
    out: dict[str, Any] = {}
    for task in tf.tasks:
        if task not in per_task:
            raise DataError(tf.folders[task], f"holds {task.upper()} labels but the run predicts "
                            f"{', '.join(t.upper() for t in per_task)}", "pass the labels of the run's tasks")
        pred, true = [], []
        for t, p in per_task[task].items():
            a = tf.files[task].get(t)
            if a is None:
                continue
            y = read_labels(a.path).values
            if len(y) != len(p):
                raise DataError(str(a.path), f"{len(y)} frames but the store holds {len(p)} rows for track {t!r}")
            pred.append(p)
            true.append(y)
        if not true:
            raise DataError(tf.folders[task], "annotates none of the predicted tracks")
        p, y = np.concatenate(pred), np.concatenate(true)
        if task == "expr":
            cm = confusion(y, p)
            pc = per_class_f1(cm)
            out.update({"f1": float(pc.mean()), "per_class_f1": dict(zip(CLASSES, pc.tolist(), strict=True)),
                        "labelled_frames": int(cm.sum())})
            assert cm.shape == (N_CLASSES, N_CLASSES)
        elif task == "va":
            out.update(va_scores(p, y))
            out["va_labelled_frames"] = int((~np.isnan(y).any(axis=1)).sum())
        else:
            out.update(au_scores(p, y))
            out["au_labelled_frames"] = int((y >= 0).all(axis=1).sum())
    return out
