"""``exprnet ensemble`` of multi-task runs (and VA-only / AU-only runs): every task they share.

Each member predicts its validation tracks (and ``--tracks``) with ``exprnet predict``'s multi-task
path without its post-processing (:func:`~exprnet.prediction.tasks.predict_tasks`, ``raw``; kept
in ``OUT/members/<k>/``); per task the members are combined and post-processed as fitted on their
training tracks (out of fold where every member kept its out-of-fold predictions, else in-sample:
the record says which; never on validation labels):

- VA: the weighted mean, then the smoothing width (:mod:`.task_fit`);
- AU: the members' mean probability, then per AU a smoothing width and a threshold (:mod:`.task_fit`);
- EXPR: each member calibrated with its own calibration, their mean probability, then one
  temperature and the EXPR-only default's decoder (the members' own kind when they share one;
  :mod:`.task_expr`).

    OUT/metrics.json       per task its ``val_`` keys (``val_va``, ``val_au_f1``, ``val_f1``, ...),
                           each member's (as ``exprnet predict`` decides: EXPR after the run's own
                           calibration and decoding, AU at 0.5), the best member's, the weights;
                           ``task_post``: what was fitted, on what; ``per_task.expr``: EXPR's chain
    OUT/va/, OUT/au/, OUT/probs/   the ensemble's per-frame arrays (validation and --tracks): VA
                           values and AU probabilities after smoothing, EXPR posteriors after the chain
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
from ..prediction.run_post import RunPost
from ..prediction.tasks import FOLDERS, predict_tasks, run_tasks
from ..reports.progress import NullReporter, Reporter
from ..tasks.registry import TASKS
from ..tasks.submission import AU_FILE, VA_FILE, write_au_submission, write_va_submission
from ..training.runfolder import RunFolder
from .task_expr import ExprChain, expr_spec, expr_training, fit_expr_chain, member_calibrations
from .task_fit import FITTED, TaskFit, fit_tasks, oof_tasks

WRITERS = {"expr": (write_submission, "submission.txt"), "va": (write_va_submission, VA_FILE),
           "au": (write_au_submission, AU_FILE)}


def shared_tasks(runs: Sequence[str | Path], select: str) -> list[str]:
    """The tasks every run predicts, in TASKS order."""
    per = [set(run_tasks(r, select)) for r in runs]
    common = [t for t in TASKS if all(t in p for p in per)]
    if not common:
        raise ConfigError("--runs", "the runs share no task", "ensemble runs trained on a common task")
    return common


def decide(task: str, out: np.ndarray) -> np.ndarray:
    """A member's own decision, as ``exprnet predict`` makes it: EXPR labels, VA values, AU 0/1 at 0.5."""
    return TaskFit(1).decide(task, out)


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
        predict_tasks(run, store, list(tracks), d, select, None, device, reporter, allow_feature_mismatch, raw=True)
        got.append({t: {tr: np.load(d / FOLDERS[t] / f"{tr}.npy") for tr in tracks} for t in tasks})
    return got


def training_fit(runs: Sequence[Path], store: str, tasks: Sequence[str], tf: Any, out: Path, select: str,
                 device: str, reporter: Reporter, allow_feature_mismatch: bool) -> tuple[TaskFit, ExprChain | None]:
    """:func:`.task_fit.fit_tasks` and EXPR's :func:`.task_expr.fit_expr_chain` on the training
    tracks every member shares (see the module doc); the members predict them (raw) once, and only
    where one of them lacks out-of-fold predictions."""
    train = sorted(set.intersection(*[set(RunFolder(r).read_tracks()["train"]) for r in runs]))
    preds: dict[str, list[list[np.ndarray]]] = {}
    trues: dict[str, list[np.ndarray]] = {}
    oof: dict[str, bool] = {}
    predicted: list[dict[str, dict[str, np.ndarray]]] = []

    def own(task: str, have: Sequence[str], ys: Sequence[np.ndarray]) -> list[list[np.ndarray]]:
        if not predicted:
            predicted.extend(member_outputs(runs, store, train, tasks, out, "train", select, device, reporter,
                                            allow_feature_mismatch))
        got = [[p[task][t] for t in have] for p in predicted]
        for t, y, p in zip(have, ys, got[0], strict=True):
            if len(y) != len(p):
                raise DataError(str(tf.files[task][t].path), f"{len(y)} frames but the members predict {len(p)} "
                                f"for track {t!r}", "use the labels the runs were trained with")
        return got

    for task in [t for t in FITTED if t in tasks and t in tf.tasks]:
        ann = read_task_labels(tf, task, train)
        have = [t for t in train if t in ann]
        if not have:
            continue
        ys = [ann[t] for t in have]
        got = [oof_tasks(r, task, have, [len(y) for y in ys]) for r in runs]
        oof[task] = all(g is not None for g in got)
        preds[task], trues[task] = (got if oof[task] else own(task, have, ys)), ys  # type: ignore[assignment]
    fit = fit_tasks(tasks, preds, trues, oof, len(runs))
    chain = None
    if "expr" in tasks:
        ann = read_task_labels(tf, "expr", train) if "expr" in tf.tasks else {}
        have = [t for t in train if t in ann]
        ys = [ann[t] for t in have]
        cals = member_calibrations(runs)
        chain = fit_expr_chain(expr_spec(runs), cals, lambda: expr_training(
            runs, have, ys, cals, lambda k: own("expr", have, ys)[k]) if have else None)
        fit.info["expr"] = {"chosen_on": chain.fitted_on, "tracks": len(have)}
    for task, rec in fit.info.items():
        reporter.message(f"{task.upper()}: post-processing fitted on {rec['chosen_on']}")
    return fit, chain


def outputs(task: str, fit: TaskFit, chain: ExprChain | None, preds: Sequence[dict[str, dict[str, np.ndarray]]],
            tracks: Sequence[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per track the ensemble's (kept per frame, decided) of ``task`` from the members' raw outputs."""
    if task == "expr" and chain is not None:
        dec = chain.apply([chain.combine([p[task][tr] for p in preds]) for tr in tracks])
        return {tr: (d.probs, d.labels) for tr, d in zip(tracks, dec, strict=True)}
    got = {tr: fit.output(task, fit.combine(task, [p[task][tr] for p in preds])) for tr in tracks}
    return {tr: (v, fit.decide(task, v)) for tr, v in got.items()}


def member_decisions(task: str, posts: Sequence[RunPost], preds: Sequence[dict[str, dict[str, np.ndarray]]],
                     tracks: Sequence[str]) -> list[np.ndarray]:
    """Each member's decisions on ``tracks``, concatenated, as ``exprnet predict`` makes them: after
    the run's own post-processing (:class:`~exprnet.prediction.run_post.RunPost`: EXPR calibrated and
    decoded, VA smoothed, AU smoothed and thresholded per AU; raw where the run fitted none)."""
    return [np.concatenate([lab for _, lab in post.apply(task, [p[task][tr] for tr in tracks])])
            for post, p in zip(posts, preds, strict=True)]


def _write(out: Path, task: str, got: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    (out / FOLDERS[task]).mkdir(parents=True, exist_ok=True)
    for tr, (v, _) in got.items():
        atomic_write_bytes(out / FOLDERS[task] / f"{tr}.npy", _npy(np.asarray(v, np.float32)))


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
    fit, chain = training_fit(runs, store, tasks, tf, out, select, device, reporter, allow_feature_mismatch)
    preds = member_outputs(runs, store, val, tasks, out, "val", select, device, reporter, allow_feature_mismatch)
    metrics: dict[str, Any] = {"kind": "ensemble", "method": "mean", "tasks": tasks, "select": select,
                               "members": [{"run": str(r), "name": r.name} for r in runs], "per_task": {},
                               "task_post": fit.to_dict()}
    if chain is not None:  # what the EXPR combination went through, as an EXPR-only ensemble records it
        metrics.update({k: v for k, v in chain.to_dict().items() if k in ("calibration", "postprocess", "smooth")})
    done = {}
    posts = [RunPost.of(r, run_tasks(r, select)) for r in runs]  # each member's own post-processing, read once
    for task in tasks:
        done[task] = outputs(task, fit, chain, preds, val)
        _write(out, task, done[task])
        if task not in scored:
            continue
        ann = read_task_labels(tf, task, val)
        names = [tr for tr in val if tr in ann]
        if not names:
            raise DataError(tf.folders[task], "annotates none of the runs' validation tracks")
        for tr in names:
            if len(ann[tr]) != len(done[task][tr][1]):
                raise DataError(str(tf.files[task][tr].path), f"{len(ann[tr])} frames but the members predict "
                                f"{len(done[task][tr][1])} for track {tr!r}", "use the labels the runs were "
                                "trained with")
        y = np.concatenate([ann[tr] for tr in names])
        spec = TASKS[task]
        members = [spec.val_scores(d, y) for d in member_decisions(task, posts, preds, names)]
        ens = spec.val_scores(np.concatenate([done[task][tr][1] for tr in names]), y)
        key = f"val_{spec.primary}"
        best = max(m[key] for m in members)
        metrics.update(ens)
        frames = int(spec.annotated(y).sum())
        metrics.update({f"val_{task}_tracks": len(names), f"val_{task}_frames": frames})
        raw = [spec.val_scores(np.concatenate([decide(task, p[task][tr]) for tr in names]), y)[key] for p in preds]
        rec: dict[str, Any] = {key: ens[key], "member": [m[key] for m in members], "best_member": best,
                               "member_raw": raw,
                               "tracks": len(names), "weights": fit.weights().tolist() if task == "va"
                               else [1.0 / len(runs)] * len(runs)}
        if task == "expr":
            metrics["per_class_f1"] = {k[len("val_f1_"):]: v for k, v in ens.items() if k.startswith("val_f1_")}
            metrics["val_tracks"], metrics["val_frames"] = len(names), frames
            metrics["best_member_f1"] = best
            rec.update({"decision": chain.decision() if chain else "", **(chain.to_dict() if chain else {})})
        else:
            rec["decision"] = {"va": "weighted mean, smoothed (task_post)",
                               "au": "mean probability, smoothed, per-AU thresholds (task_post)"}[task]
        metrics["per_task"][task] = rec
        reporter.message(f"{task.upper()}: members {', '.join(f'{m[key]:.4f}' for m in members)} -> "
                         f"ensemble {ens[key]:.4f}")
    tracks = val
    if test_tracks:
        tracks = list(test_tracks)
        test = member_outputs(runs, store, tracks, tasks, out, "test", select, device, reporter, allow_feature_mismatch)
        done = {t: outputs(t, fit, chain, test, tracks) for t in tasks}
        for t in tasks:
            _write(out, t, done[t])
    metrics["submissions"] = {}
    for t in tasks:
        write, name = WRITERS[t]
        write(out / name, [(tr, done[t][tr][1]) for tr in tracks])
        metrics["submissions"][t] = name
    metrics["submission_tracks"] = len(tracks)
    atomic_write_json(out / "metrics.json", metrics)
    return metrics
