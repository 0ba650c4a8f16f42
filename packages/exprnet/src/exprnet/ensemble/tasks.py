"""``exprnet ensemble`` of multi-task runs (and VA-only / AU-only runs): every task they share.

Each member predicts its validation tracks (and ``--tracks``) with ``exprnet predict``'s multi-task
path (:func:`~exprnet.prediction.tasks.predict_tasks`, kept in ``OUT/members/<k>/``); per task the
members are combined as :mod:`exprnet.tasks.combine` says, with the decision rule the members were
scored with (nothing fitted on validation):

- VA: the weighted mean (:func:`~exprnet.tasks.combine.combine_va`), equal weights: the runs keep
  no out-of-fold VA predictions to fit weights on (:func:`~exprnet.tasks.combine.fit_va_weights`
  on their own training predictions would favour the member that fits its training tracks best);
- AU: the members' mean probability (:func:`~exprnet.tasks.combine.mean_probs`), then 0/1 at 0.5;
- EXPR: the members' mean probability, then its argmax.

    OUT/metrics.json       per task its ``val_`` keys (``val_va``, ``val_au_f1``, ``val_f1``, ...),
                           each member's, the best member's, the weights
    OUT/va/, OUT/au/, OUT/probs/   the ensemble's per-frame arrays (validation and --tracks)
    OUT/submission_va.txt, submission_au.txt, submission.txt   for --tracks, else the validation tracks
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from featurizer.core.files import atomic_write_bytes, atomic_write_json

from ..data.tasks import find_task_files, read_task_labels
from ..errors import ConfigError, DataError
from ..prediction.predict import write_submission
from ..prediction.tasks import FOLDERS, predict_tasks, run_tasks
from ..reports.progress import NullReporter, Reporter
from ..tasks.combine import combine_va, mean_probs
from ..tasks.names import N_VA
from ..tasks.registry import TASKS
from ..tasks.submission import AU_FILE, VA_FILE, write_au_submission, write_va_submission
from ..training.runfolder import RunFolder

WRITERS = {"expr": (write_submission, "submission.txt"), "va": (write_va_submission, VA_FILE),
           "au": (write_au_submission, AU_FILE)}


def shared_tasks(runs: Sequence[str | Path], select: str) -> list[str]:
    """The tasks every run predicts, in TASKS order."""
    per = [set(run_tasks(r, select)) for r in runs]
    common = [t for t in TASKS if all(t in p for p in per)]
    if not common:
        raise ConfigError("--runs", "the runs share no task", "ensemble runs trained on a common task")
    return common


def combine_task(task: str, preds: Sequence[np.ndarray]) -> np.ndarray:
    """One track's ensemble output: VA values, AU mean probability, EXPR mean probability."""
    if task == "va":
        return combine_va(preds, np.full((len(preds), N_VA), 1.0 / len(preds)))
    return mean_probs(preds)


def decide(task: str, out: np.ndarray) -> np.ndarray:
    """What a submission holds and the metric scores: EXPR labels, VA values, AU 0/1 at 0.5."""
    if task == "expr":
        return out.argmax(1)
    return (out >= 0.5).astype(np.int8) if task == "au" else out


def _npy(a: np.ndarray) -> bytes:
    b = io.BytesIO()
    np.save(b, a)
    return b.getvalue()


def member_outputs(runs: Sequence[str | Path], store: str, tracks: Sequence[str], tasks: Sequence[str], out: Path,
                   part: str, select: str, device: str, reporter: Reporter, allow_feature_mismatch: bool
                   ) -> list[dict[str, dict[str, np.ndarray]]]:
    """Per member, per task, per track its raw outputs (probabilities or values)."""
    got = []
    for k, run in enumerate(runs):
        d = out / "members" / f"{k}-{Path(run).name}" / part
        reporter.message(f"{Path(run).name}: predicting {len(tracks)} {part} tracks")
        predict_tasks(run, store, list(tracks), d, select, None, device, reporter, allow_feature_mismatch)
        got.append({t: {tr: np.load(d / FOLDERS[t] / f"{tr}.npy") for tr in tracks} for t in tasks})
    return got


def run_task_ensemble(runs: Sequence[str | Path], store: str, labels: Sequence[str], out: str | Path,
                      test_tracks: Sequence[str] | None = None, select: str = "best", device: str = "auto",
                      reporter: Reporter | None = None, allow_feature_mismatch: bool = False) -> dict[str, Any]:
    reporter = reporter or NullReporter()
    out = Path(out)
    runs = [Path(r) for r in runs]
    tasks = shared_tasks(runs, select)
    cfg = RunFolder(runs[0]).read_config()
    tf = find_task_files(list(labels), (cfg.data.train_split, cfg.data.val_split))
    scored = [t for t in tasks if t in tf.tasks]
    if not scored:
        raise DataError(", ".join(labels), f"holds labels of {', '.join(tf.tasks)} but the runs share "
                        f"{', '.join(tasks)}", "pass --labels folders of the runs' tasks")
    val = sorted(set.intersection(*[set(RunFolder(r).read_tracks()["val"]) for r in runs]))
    if not val:
        raise DataError(str(runs[0]), "the runs share no validation track", "ensemble runs of one split")
    preds = member_outputs(runs, store, val, tasks, out, "val", select, device, reporter, allow_feature_mismatch)
    metrics: dict[str, Any] = {"kind": "ensemble", "method": "mean", "tasks": tasks, "select": select,
                               "members": [{"run": str(r), "name": r.name} for r in runs], "per_task": {}}
    for task in tasks:
        combined = {tr: combine_task(task, [p[task][tr] for p in preds]) for tr in val}
        (out / FOLDERS[task]).mkdir(parents=True, exist_ok=True)
        for tr, v in combined.items():
            atomic_write_bytes(out / FOLDERS[task] / f"{tr}.npy", _npy(v.astype(np.float32)))
        if task not in scored:
            continue
        ann = read_task_labels(tf, task, val)
        names = [tr for tr in val if tr in ann]
        if not names:
            raise DataError(tf.folders[task], "annotates none of the runs' validation tracks")
        for tr in names:
            if len(ann[tr]) != len(combined[tr]):
                raise DataError(str(tf.files[task][tr].path), f"{len(ann[tr])} frames but the members predict "
                                f"{len(combined[tr])} for track {tr!r}", "use the labels the runs were trained with")
        y = np.concatenate([ann[tr] for tr in names])
        spec = TASKS[task]
        members = [spec.val_scores(np.concatenate([decide(task, p[task][tr]) for tr in names]), y) for p in preds]
        ens = spec.val_scores(np.concatenate([decide(task, combined[tr]) for tr in names]), y)
        key = f"val_{spec.primary}"
        best = max(m[key] for m in members)
        metrics.update(ens)
        metrics["per_task"][task] = {key: ens[key], "member": [m[key] for m in members], "best_member": best,
                                     "tracks": len(names), "weights": [1.0 / len(runs)] * len(runs),
                                     "decision": {"expr": "argmax of the mean probability", "va": "equal-weight mean",
                                                  "au": "mean probability >= 0.5"}[task]}
        reporter.message(f"{task.upper()}: members {', '.join(f'{m[key]:.4f}' for m in members)} -> "
                         f"ensemble {ens[key]:.4f}")
    tracks, outputs = val, None
    if test_tracks:
        tracks = list(test_tracks)
        test = member_outputs(runs, store, tracks, tasks, out, "test", select, device, reporter, allow_feature_mismatch)
        outputs = {t: {tr: combine_task(t, [p[t][tr] for p in test]) for tr in tracks} for t in tasks}
        for t in tasks:
            for tr, v in outputs[t].items():
                atomic_write_bytes(out / FOLDERS[t] / f"{tr}.npy", _npy(v.astype(np.float32)))
    metrics["submissions"] = {}
    for t in tasks:
        write, name = WRITERS[t]
        src = outputs[t] if outputs else {tr: np.load(out / FOLDERS[t] / f"{tr}.npy") for tr in tracks}
        write(out / name, [(tr, decide(t, src[tr])) for tr in tracks])
        metrics["submissions"][t] = name
    metrics["submission_tracks"] = len(tracks)
    atomic_write_json(out / "metrics.json", metrics)
    return metrics
