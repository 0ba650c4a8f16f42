"""``exprnet bundle RUN1 RUN2 ...`` of runs with VA or AU heads: their ensemble as one bundle.

The combination and post-processing are exactly what ``exprnet ensemble`` fits and scores
(:func:`~exprnet.ensemble.tasks.run_task_ensemble`: VA weights, VA smoothing and per-AU thresholds
fitted on the members' training tracks, out of fold where every member kept them; EXPR's chain,
:mod:`exprnet.ensemble.task_expr`); the bundle holds every run as a network member with its own
EXPR calibration, the tasks they share, that ``task_post`` (:mod:`.tasks`) and EXPR's chain as its
``postprocess`` (a temperature, then the decoder or smoother, on the EXPR slice of the combined
rows), so ``exprnet infer`` and ``exprnet serve`` give the ensemble's predictions.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..data.tasks import find_task_files, read_task_labels
from ..ensemble.combine import Combiner
from ..ensemble.task_expr import ExprChain
from ..ensemble.tasks import run_task_ensemble
from ..errors import ConfigError
from ..reports.progress import NullReporter, Reporter
from ..tasks.post import AUPost, VAPost
from ..training.runfolder import RunFolder
from .bundle import write_bundle
from .make_tasks import bundle_texts
from .recipe import recipe_from_store
from .tasks import TaskPost, load_task_run


def task_post_of(metrics: dict[str, Any], tasks: Sequence[str]) -> TaskPost:
    """The ensemble's recorded ``task_post`` as the bundle's."""
    tp = metrics["task_post"]
    return TaskPost(VAPost.from_dict(tp["va"]) if "va" in tasks else None,
                    AUPost.from_dict(tp["au"]) if "au" in tasks else None,
                    np.asarray(tp["va_weights"], np.float64) if "va" in tasks else None)


def make_task_ensemble_bundle(runs: Sequence[str | Path], store: str, labels: Sequence[str], out: str | Path,
                              select: str = "best", device: str = "auto", reporter: Reporter | None = None,
                              detector: str | None = None, overwrite: bool = False,
                              allow_feature_mismatch: bool = False, sign: Any = None) -> Path:
    """A bundle of several runs, one of them at least with VA or AU heads, combined on the tasks they share."""
    reporter = reporter or NullReporter()
    for r in runs:
        if RunFolder(r).read_config().resolved().baseline is not None:
            raise ConfigError(str(r), "is a baseline run; a bundle of VA or AU holds networks only",
                              "bundle the network runs (score baselines with `exprnet ensemble`)")
    with tempfile.TemporaryDirectory(prefix="exprnet-bundle-") as tmp:
        metrics = run_task_ensemble(runs, store, labels, tmp, None, select, device, reporter, allow_feature_mismatch)
    return bundle_from_task_ensemble(runs, metrics, store, labels, out, select, detector, overwrite, sign)


def bundle_from_task_ensemble(runs: Sequence[str | Path], metrics: dict[str, Any], store: str, labels: Sequence[str],
                              out: str | Path, select: str = "best", detector: str | None = None,
                              overwrite: bool = False, sign: Any = None) -> Path:
    """A bundle of ``runs`` combined as ``metrics`` (``exprnet ensemble``'s of VA/AU runs) says."""
    loaded = [load_task_run(r, select) for r in runs]
    tasks = list(metrics["tasks"])
    if tasks == ["expr"]:
        raise ConfigError("RUN...", "the runs share only EXPR", "bundle runs that share a VA or AU head, or "
                          "EXPR-only runs alone")
    post = task_post_of(metrics, tasks)
    folders = [RunFolder(r).read_tracks() for r in runs]
    train = sorted({t for f in folders for t in f["train"]})
    val = sorted({t for f in folders for t in f["val"]})
    names = [Path(r).name for r in runs]
    features = list(dict.fromkeys(f for lr, _ in loaded for f in lr.cfg.data.features))
    recipe = recipe_from_store(store, features, train + val, {n: lr.features for n, (lr, _) in zip(names, loaded,
                                                                                                    strict=True)},
                               detector)
    cfg = loaded[0][0].cfg
    tf = find_task_files(labels, (cfg.data.train_split, cfg.data.val_split))
    lab = {task: read_task_labels(tf, task, train + val) for task in tf.tasks}
    f1 = metrics["per_task"].get("expr", {}).get("member") or [None] * len(runs)
    entries = [{"name": n, "kind": "network", "encoder": lr.cfg.model_name, "features": list(lr.cfg.data.features),
                "val_f1": v, "weight": 1.0 / len(runs)} for n, (lr, _), v in zip(names, loaded, f1, strict=True)]
    expr = ExprChain.from_metrics(metrics if "expr" in tasks else {}, len(runs))
    files, info = bundle_texts(out, recipe, entries, metrics, post, tasks, lab, train, val, store, labels, select,
                               expr.describe() if "expr" in tasks else ())
    members = [(n, lr, v) for n, (lr, _), v in zip(names, loaded, f1, strict=True)]
    return write_bundle(out, members, Combiner("mean", np.ones(len(runs))), expr.chain, recipe, files, info, overwrite,
                        [None if c is None else c.to_dict() for c in expr.cals], sign, tasks=tasks, task_post=post,
                        member_tasks=[t for _, t in loaded])
