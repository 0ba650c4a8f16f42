"""``exprnet bundle``: runs -> the ensemble fitted on their validation split -> a bundle folder.

The combination and its post-processing are exactly what ``exprnet ensemble`` fits and applies
(:func:`~exprnet.ensemble.evaluate.run_ensemble`, whose metrics record the chain); the members are
the runs' ``--select`` checkpoints; the recipe is read from the store they were trained on.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from featurizer.core.annotations import find_annotations, read_annotation

from ..ensemble.combine import Combiner
from ..ensemble.evaluate import run_ensemble
from ..errors import ConfigError
from ..postprocess.processor import processor_from_dict
from ..prediction.predict import load_run
from ..reports.progress import NullReporter, Reporter
from ..training.runfolder import RunFolder
from .bundle import write_bundle
from .card import model_card, training_summary
from .make_tasks import finite as _finite
from .make_tasks import make_task_bundle
from .recipe import recipe_from_store


def bundle_from_ensemble(runs: Sequence[str | Path], metrics: Mapping[str, Any], evaluation: Path, store: str,
                         labels: str, out: str | Path, select: str = "best", detector: str | None = None,
                         overwrite: bool = False, name: str | None = None, sign: Any = None) -> Path:
    """A bundle of ``runs`` combined as ``metrics`` (an ``exprnet ensemble`` metrics.json, its
    outputs in ``evaluation``) says; ``sign``: an Ed25519 private key to sign it with."""
    if "postprocess" not in metrics:
        raise ConfigError(str(evaluation / "metrics.json"), "does not record its post-processing",
                          "re-run `exprnet ensemble` with this exprnet")
    loaded = [load_run(r, select) for r in runs]
    f1 = {str(m["run"]): m["val_f1"] for m in metrics["members"]}
    members = [(Path(r).name, lr, f1.get(str(r))) for r, lr in zip(runs, loaded, strict=True)]
    train = sorted({t for r in runs for t in RunFolder(r).read_tracks()["train"]})
    val = sorted({t for r in runs for t in RunFolder(r).read_tracks()["val"]})
    features = list(dict.fromkeys(f for _, lr, _ in members for f in lr.cfg.data.features))
    recipe = recipe_from_store(store, features, train + val, {n: lr.features for n, lr, _ in members}, detector)
    comb = Combiner(metrics["method"], _arr(metrics["weights"]),
                    None if metrics.get("class_bias") is None else _arr(metrics["class_bias"]))
    post = [processor_from_dict(d) for d in metrics["postprocess"]]
    files = find_annotations(labels)
    lab = {t: read_annotation(files[t].path) for t in train + val if t in files}
    data = training_summary(train, val, lab)
    weights = comb.weights / comb.weights.sum()
    entries = [{"name": n, "kind": "baseline" if lr.classifier is not None else "network",
                "encoder": lr.cfg.model_name, "features": list(lr.cfg.data.features), "val_f1": v,
                "weight": float(w)} for (n, lr, v), w in zip(members, weights, strict=True)]
    title = name or Path(out).name
    card = model_card(title, recipe, entries, metrics, data, [p.describe() for p in post])
    extra = {"MODEL_CARD.md": card.encode(), "metrics.json": (json.dumps(_finite(dict(metrics)), indent=2) + "\n").encode()}
    if (evaluation / "confusion.png").exists():
        extra["confusion.png"] = (evaluation / "confusion.png").read_bytes()
    info = {"name": title, "select": select,
            "trained_on": {**data, "store": str(store), "labels": str(labels)},
            "validation": {k: metrics.get(k) for k in ("val_f1", "val_f1_cv", "fit_on_validation", "best_member_f1",
                                                       "val_tracks", "val_frames", "per_class_f1")}}
    cals = metrics.get("calibration") or [None] * len(members)  # each member's, before the combination
    return write_bundle(out, members, comb, post, recipe, extra, _finite(info), overwrite, list(cals), sign)


def make_bundle(runs: Sequence[str | Path], method: str, store: str, labels: str | Sequence[str], out: str | Path,
                smooth: str = "default", select: str = "best", class_bias: bool = False, cv_folds: int = 4,
                device: str = "auto", reporter: Reporter | None = None, detector: str | None = None,
                overwrite: bool = False, allow_feature_mismatch: bool = False, sign: Any = None) -> Path:
    """``exprnet bundle``: fit the ensemble on the runs' validation split, then write the bundle
    (signed with ``sign``, an Ed25519 private key, when given). ``labels``: the annotation folder,
    or one per task; a run of VA or AU makes a bundle of its tasks (:mod:`.make_tasks`), several
    runs with VA or AU heads a bundle of their ensemble (:mod:`.make_task_ensemble`)."""
    from ..data.tasks import expr_labels_dir, label_dirs
    from .make_task_ensemble import make_task_ensemble_bundle
    from .tasks import run_tasks_of

    reporter = reporter or NullReporter()
    if any(run_tasks_of(r, select) != ["expr"] for r in runs):
        if smooth.strip().lower() not in ("default", "none") or class_bias:  # default: the task's own
            raise ConfigError("--smooth/--class-bias", "apply to EXPR-only ensembles; a run of VA or AU is bundled "
                              "with its own post-processing (VA smoothing, AU thresholds, fitted on its training "
                              "tracks)", "leave out --smooth and --class-bias")
        make = make_task_bundle if len(runs) == 1 else make_task_ensemble_bundle
        return make(runs, store, label_dirs(labels), out, select, device, reporter, detector, overwrite,
                    allow_feature_mismatch, sign)
    from ..baseline.tasks import baseline_tasks

    for r in runs:
        if left := baseline_tasks(r):
            reporter.message(f"{r}: its {' and '.join(t.upper() for t in left)} baseline left out (a bundle holds "
                             "VA and AU networks only); the bundle predicts EXPR")
    labels = expr_labels_dir(labels, "exprnet bundle of EXPR-only runs")
    with tempfile.TemporaryDirectory(prefix="exprnet-bundle-") as tmp:
        ev = Path(tmp)
        metrics = run_ensemble(runs, method, store, labels, ev, class_bias=class_bias, cv_folds=cv_folds,
                               device=device, reporter=reporter, select=select,
                               allow_feature_mismatch=allow_feature_mismatch, smooth_spec=smooth)
        return bundle_from_ensemble(runs, metrics, ev, store, labels, out, select, detector, overwrite, sign=sign)


def _arr(v: Any) -> Any:
    import numpy as np

    return np.asarray(v, np.float64)
