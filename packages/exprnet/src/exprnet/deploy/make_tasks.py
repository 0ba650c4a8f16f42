"""``exprnet bundle`` of a run with VA or AU: one member, each task's post-processing, every task's scores.

The run predicts its training and validation tracks once; the VA smoothing and the AU
thresholds and smoothing are the run's own (``RUN/task_post.json``, fitted after training, out of
fold with ``smooth.folds``), or for a run that kept none fitted here on the training tracks against
training labels (on the run's out-of-fold predictions where it kept ``RUN/oof/tasks.npz``, else its
own; :func:`.tasks.fit_task_post`), then every task is scored on the validation tracks after them
(:class:`~exprnet.tasks.registry.Task` scores: EXPR F1, VA CCC, AU F1), which metrics.json,
the manifest and the model card report.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from featurizer.core.store import FeatureStore

from ..data.bank import load_bank
from ..data.tasks import find_task_files, read_task_labels
from ..ensemble.combine import Combiner
from ..ensemble.task_fit import oof_tasks
from ..errors import ConfigError, DataError
from ..models.blend import build_network
from ..prediction.predict import Predictor, check_bank
from ..reports.progress import NullReporter, Reporter
from ..tasks.post import AUPost, VAPost
from ..tasks.registry import TASKS
from ..training.runfolder import RunFolder
from ..training.task_post import POST_FILE, read_task_post
from .bundle import write_bundle
from .card import model_card, training_summary
from .recipe import recipe_from_store
from .tasks import TaskPost, chain_outputs, expr_sliced, fit_task_post, load_task_run, slices


def make_task_bundle(runs: Sequence[str | Path], store: str, labels: Sequence[str], out: str | Path,
                     select: str = "best", device: str = "auto", reporter: Reporter | None = None,
                     detector: str | None = None, overwrite: bool = False, allow_feature_mismatch: bool = False,
                     sign: Any = None) -> Path:
    """A bundle of one run trained on VA or AU (alone or with other tasks); ``labels``: one
    annotation folder per task (the run's own ``--labels``)."""
    reporter = reporter or NullReporter()
    if len(runs) != 1:
        raise ConfigError("RUN...", f"names {len(runs)} runs, and one of them predicts VA or AU; a bundle of VA "
                          "or AU holds one run", "bundle one multi-task run (ensembles of VA/AU runs: `exprnet ensemble`)")
    run_dir = runs[0]
    lr, tasks = load_task_run(run_dir, select)
    cfg = lr.cfg
    folder = RunFolder(run_dir).read_tracks()
    train, val = list(folder["train"]), list(folder["val"])
    tf = find_task_files(labels, (cfg.data.train_split, cfg.data.val_split))
    extra = [t for t in tf.tasks if t not in tasks]
    if extra:
        raise DataError(", ".join(tf.folders[t] for t in extra), f"holds {', '.join(t.upper() for t in extra)} "
                        f"labels but {run_dir} predicts {', '.join(t.upper() for t in tasks)}",
                        "pass the annotation folders of the run's tasks")
    missing = [t for t in tasks if t not in tf.tasks]
    if missing:
        raise ConfigError("--labels", f"has no {', '.join(t.upper() for t in missing)} folder; {run_dir} predicts "
                          f"{', '.join(t.upper() for t in tasks)}", "pass one --labels folder per task of the run")
    features = list(cfg.data.features)
    recipe = recipe_from_store(store, features, train + val, {Path(run_dir).name: lr.features}, detector)
    reader = FeatureStore(store, mode="r")
    names = [t for t in train + val if reader.has_track(t)]
    bank = load_bank(reader, features, names, None, "error")
    check_bank(lr, bank, store, allow_feature_mismatch)
    width = int(lr.state["fusion.proj.weight"].shape[1])
    net = build_network(width, cfg.model, tasks, lr.state, lr.blend)
    rows = Predictor(lr, device, net).probs(bank, reporter)
    out_of = {t: rows[i] for i, t in enumerate(bank.tracks)}
    s = slices(tasks)
    lab = {task: read_task_labels(tf, task, names) for task in tasks}
    fit_preds: dict[str, list[np.ndarray]] = {}
    fit_trues: dict[str, list[np.ndarray]] = {}
    fitted_on: dict[str, str] = {}
    for task in [t for t in tasks if t != "expr"]:
        have = [t for t in train if t in lab[task] and t in out_of]
        fit_trues[task] = [lab[task][t] for t in have]
        oof = oof_tasks(run_dir, task, have, [len(y) for y in fit_trues[task]])  # RUN/oof/tasks.npz, if kept
        fit_preds[task] = oof if oof is not None else [out_of[t][:, s[task]] for t in have]
        fitted_on[task] = "training tracks, " + ("out of fold" if oof is not None else "in-sample (the run's own "
                                                                                          "predictions)")
    post = run_task_post(run_dir, tasks)
    if post is not None:
        source = (read_task_post(run_dir) or {}).get("source", "the run's own (RUN/task_post.json)")
        fitted_on = {task: str(source) for task in fitted_on}
    else:
        post = fit_task_post(tasks, fit_preds, fit_trues)
    cal, chain = expr_chain(run_dir, tasks)
    metrics = _scores(tasks, post, out_of, lab, val, cal, chain)
    metrics.update({"method": "single", "members": [{"run": str(run_dir), "val_f1": metrics.get("val_f1")}],
                    "tasks": tasks, "task_post": {**post.to_dict(), "fitted_on": fitted_on}, "weights": [1.0],
                    "postprocess": [p.to_dict() for p in chain], **({"calibration": [cal.to_dict()]} if cal else {})})
    name = Path(run_dir).name
    entries = [{"name": name, "kind": "network", "encoder": cfg.model_name, "features": features,
                "val_f1": metrics.get("val_f1"), "weight": 1.0}]
    files, info = bundle_texts(out, recipe, entries, metrics, post, tasks, lab, train, val, store, labels, select,
                               [p.describe() for p in ([cal] if cal else []) + chain])
    return write_bundle(out, [(name, lr, metrics.get("val_f1"))], Combiner("mean", np.ones(1)), chain, recipe, files,
                        info, overwrite, [cal.to_dict() if cal else None], sign, tasks=tasks, task_post=post)


def expr_chain(run_dir: str | Path, tasks: Sequence[str]) -> tuple[Any, list[Any]]:
    """EXPR's calibration (None: none) and smoothing or decoder chain the run fitted after training
    (:class:`~exprnet.prediction.run_post.RunPost`: what ``exprnet predict`` applies); none without EXPR."""
    from ..prediction.run_post import RunPost

    if "expr" not in tasks:
        return None, []
    rp = RunPost.of(run_dir, tasks)
    cal = rp.cal if rp.cal is not None and not rp.cal.identity else None
    identity = rp.proc.kind == "none" or getattr(rp.proc, "width", None) == 0  # e.g. box +-0
    return cal, [] if identity else [rp.proc]


def bundle_texts(out: str | Path, recipe: Any, entries: list[dict[str, Any]], metrics: dict[str, Any], post: TaskPost,
                 tasks: Sequence[str], lab: dict[str, dict[str, np.ndarray]], train: Sequence[str], val: Sequence[str],
                 store: str, labels: Sequence[str], select: str, expr_lines: Sequence[str] = ()
                 ) -> tuple[dict[str, bytes], dict[str, Any]]:
    """A task bundle's model card and metrics.json, and its manifest's ``info`` (what it was trained
    on: tracks per task and split; its validation scores); ``expr_lines``: EXPR's chain, described."""
    data = training_summary(list(train), list(val), lab.get("expr", {}))
    data["tasks"] = {task: {split: sum(1 for t in tracks if t in lab.get(task, {})) for split, tracks in
                            (("train", train), ("validation", val))} for task in tasks}
    title = Path(out).name
    card = model_card(title, recipe, entries, metrics, data, [f"EXPR: {x}" for x in expr_lines] + post.describe())
    files = {"MODEL_CARD.md": card.encode(), "metrics.json": (json.dumps(finite(metrics), indent=2) + "\n").encode()}
    info = {"name": title, "select": select,
            "trained_on": {**data, "store": str(store), "labels": [str(x) for x in labels]},
            "validation": {k: v for k, v in metrics.items() if k.startswith("val_") or k in ("per_class_f1",)}}
    return files, finite(info)


def run_task_post(run_dir: str | Path, tasks: Sequence[str]) -> TaskPost | None:
    """The VA/AU post-processing the run fitted after training (``RUN/task_post.json``:
    :mod:`exprnet.training.task_post`, out of fold with ``smooth.folds``), None if it kept none."""
    rec = read_task_post(run_dir)
    if rec is None:
        return None
    post = TaskPost.from_dict(rec, str(Path(run_dir) / POST_FILE))
    return TaskPost(post.va or (VAPost() if "va" in tasks else None), post.au or (AUPost() if "au" in tasks else None))


def _scores(tasks: Sequence[str], post: TaskPost, out_of: dict[str, np.ndarray], lab: dict[str, dict[str, np.ndarray]],
            val: Sequence[str], cal: Any = None, chain: Sequence[Any] = ()) -> dict[str, Any]:
    """Every task's validation scores (``val_`` keys) after the post-processing (EXPR: ``cal``, then
    ``chain``, as the bundle applies them), and what they count."""
    got: dict[str, Any] = {}
    cal_s = expr_sliced(cal, tasks)
    scored = [t for t in val if t in out_of and any(t in lab[task] for task in tasks)]
    rows = {t: out_of[t] if cal_s is None else cal_s.apply(out_of[t]).probs for t in scored}
    done = chain_outputs(post, rows, tasks, [expr_sliced(p, tasks) for p in chain])  # every track once
    for task in tasks:
        have = [t for t in val if t in lab[task] and t in out_of]
        got[f"val_{task}_tracks"] = len(have)
        if not have:
            continue
        outs = [done[t] for t in have]
        pred = np.concatenate([o.expr.labels if task == "expr" else o.va if task == "va" else o.au for o in outs])
        true = np.concatenate([lab[task][t] for t in have])
        keep = TASKS[task].annotated(true)
        got[f"val_{task}_frames"] = int(keep.sum())
        scores = TASKS[task].val_scores(pred[keep], true[keep])
        got.update(scores)
        if task == "expr":
            got["per_class_f1"] = {k[len("val_f1_"):]: v for k, v in scores.items() if k.startswith("val_f1_")}
            got["val_tracks"], got["val_frames"] = len(have), int(keep.sum())
    return got


def finite(obj: Any) -> Any:
    """NaN (an estimate that could not be made) as null: bundle.json stays strict JSON."""
    if isinstance(obj, float) and obj != obj:
        return None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [finite(v) for v in obj]
    return obj
