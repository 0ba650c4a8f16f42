"""``exprnet baseline`` for VA and AU (:mod:`exprnet.tasks.baselines`) in a run folder, and loading it back.

Per task, beside what an EXPR baseline writes (config.yaml, tracks.json, stats.npz, metrics.json):

    checkpoints/baseline_<task>.npz   the model's arrays (coef, intercept) and its post-processing
                                      (``post``: JSON of VAPost / AUPost, fitted out of fold on training tracks)
    oof/<task>.npz                    out-of-fold training predictions ``p:<track>`` and labels ``y:<track>``
    va_scatter.png, va_series.png     VA: validation prediction against truth; the longest validation track
    au_f1.png                         AU: per-AU validation F1

Inputs are per-track standardised features (``BatchBuilder(normalize="track")``: ``data.normalize``
does not apply to these baselines). Training uses the training tracks this task annotates, grouped
by source video for the out-of-fold predictions; the validation tracks are only scored.
metrics.json gets the task's ``val_`` keys (``val_va``, ``val_ccc_valence``, ... / ``val_au_f1``,
``val_f1_AU1``, ...) and ``tasks.<task>``: what was chosen and how.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from featurizer.core.files import atomic_write_bytes

from ..data.bank import FeatureBank, Standardizer
from ..data.batches import BatchBuilder
from ..data.tasks import annotated
from ..errors import DataError, RunError
from ..reports.progress import NullReporter, Reporter
from ..tasks.baselines import AULogistic, VARidge, au_baseline, source_groups, va_baseline
from ..tasks.plots import plot_au_f1, plot_va_scatter, plot_va_series
from ..tasks.post import AUPost, VAPost

MODELS = {"va": VARidge, "au": AULogistic}
POSTS = {"va": VAPost, "au": AUPost}


def task_file(run: str | Path, task: str) -> Path:
    return Path(run) / "checkpoints" / f"baseline_{task}.npz"


def oof_file(run: str | Path, task: str) -> Path:
    """Where a run folder keeps the task's out-of-fold training predictions (``p:<track>``, ``y:<track>``)."""
    return Path(run) / "oof" / f"{task}.npz"


def baseline_tasks(run: str | Path) -> list[str]:
    """The VA/AU tasks a baseline run folder holds a model for (EXPR: ``checkpoints/baseline.npz``)."""
    return [t for t in MODELS if task_file(run, t).exists()]


def task_builder(cfg: Any, bank: FeatureBank, stats: Standardizer) -> BatchBuilder:
    return BatchBuilder(bank, stats, 1, cfg.data.present_flags, normalize="track", speech_gate=cfg.data.speech_gate)


def annotated_tracks(bank: FeatureBank, task: str, tracks: Sequence[str]) -> list[str]:
    """Those of ``tracks`` with at least one ``task``-annotated frame."""
    v = bank.targets[task]
    return [t for t in tracks if annotated(task, v[bank.rows(bank.index(t))]).any()]


@dataclass
class TaskFit:
    task: str
    model: VARidge | AULogistic
    post: VAPost | AUPost
    oof: dict[str, np.ndarray]  # training track -> out-of-fold prediction
    val_pred: dict[str, np.ndarray]  # validation track -> post-processed prediction
    metrics: dict[str, Any]


def fit_task(task: str, cfg: Any, bank: FeatureBank, stats: Standardizer, train: Sequence[str], val: Sequence[str],
             reporter: Reporter | None = None) -> TaskFit:
    """Fit ``task``'s baseline on the training tracks it annotates; score the validation tracks it annotates."""
    reporter = reporter or NullReporter()
    if task not in MODELS:
        raise DataError(f"task {task!r}", "has no VA/AU baseline", "EXPR's baseline is exprnet.baseline.fit")
    builder = task_builder(cfg, bank, stats)
    tr, va = annotated_tracks(bank, task, train), annotated_tracks(bank, task, val)
    for what, ts in (("training", tr), ("validation", va)):
        if not ts:
            raise DataError(f"{task.upper()} labels", f"annotate no {what} track", "give tracks of both splits")
    y = bank.targets[task]

    def arrays(ts: Sequence[str]) -> tuple[list[np.ndarray], list[np.ndarray]]:
        ids = bank.ids(ts)
        return [builder.inputs(i) for i in ids], [y[bank.rows(i)] for i in ids]

    reporter.start(f"baseline: {task.upper()} {'ridge' if task == 'va' else 'logistic regression per AU'}", None)
    try:
        (txs, tys), (vxs, vys) = arrays(tr), arrays(va)
        seed, bc = cfg.train.seed, cfg.baseline
        groups = source_groups(tr, bc.folds if bc else 5)
        fitted = (va_baseline(txs, tys, groups, vxs, vys, seed=seed) if task == "va"
                  else au_baseline(txs, tys, groups, vxs, vys, seed=seed))
    finally:
        reporter.stop()
    raw = [fitted.model.predict(x) if task == "va" else fitted.model.predict_proba(x) for x in vxs]
    vpred = dict(zip(va, fitted.post.apply(raw), strict=True))
    m = dict(fitted.metrics)
    m.update({"train_tracks": len(tr), "val_tracks": len(va), "input": "per-track standardised features",
              "train_labelled_frames": int(sum(annotated(task, a).sum() for a in tys)),
              "val_labelled_frames": int(sum(annotated(task, a).sum() for a in vys))})
    return TaskFit(task, fitted.model, fitted.post, dict(zip(tr, fitted.oof, strict=True)), vpred, m)


def write_task(out: str | Path, fit: TaskFit, bank: FeatureBank) -> None:
    """The task's model, post-processing, out-of-fold predictions and plots into the run folder ``out``."""
    out = Path(out)
    post = json.dumps(fit.post.to_dict())
    buf = io.BytesIO()
    np.savez(buf, **fit.model.to_arrays(), post=np.array(post))
    atomic_write_bytes(task_file(out, fit.task), buf.getvalue())
    y = bank.targets[fit.task]
    buf = io.BytesIO()
    np.savez(buf, **{f"p:{t}": p for t, p in fit.oof.items()}, **{f"y:{t}": y[bank.rows(bank.index(t))] for t in fit.oof})
    atomic_write_bytes(oof_file(out, fit.task), buf.getvalue())
    trues = {t: y[bank.rows(bank.index(t))] for t in fit.val_pred}
    if fit.task == "va":
        plot_va_scatter(np.concatenate(list(fit.val_pred.values())), np.concatenate(list(trues.values())),
                        out / "va_scatter.png", f"validation, ridge + {describe_post(fit.post)}")
        longest = max(fit.val_pred, key=lambda t: len(fit.val_pred[t]))
        plot_va_series(fit.val_pred[longest], trues[longest], out / "va_series.png", longest)
    else:
        plot_au_f1(fit.metrics, out / "au_f1.png", f"validation, logistic regression + {describe_post(fit.post)}")


def describe_post(post: VAPost | AUPost) -> str:
    if isinstance(post, VAPost):
        return f"{post.kind} smoothing, half-width {post.width}"
    return f"per-AU {post.kind} smoothing (half-widths {min(post.widths)}-{max(post.widths)}) and thresholds"


@dataclass
class LoadedTask:
    """A VA/AU baseline read back from its run folder; :meth:`raw` then ``post.apply`` as when it was scored."""

    task: str
    model: VARidge | AULogistic
    post: VAPost | AUPost
    cfg: Any
    stats: Standardizer

    def raw(self, bank: FeatureBank, ids: Sequence[int]) -> dict[int, np.ndarray]:
        """Unsmoothed predictions (VA values / AU probabilities) of ``ids`` of ``bank``."""
        b = task_builder(self.cfg, bank, self.stats)
        f = self.model.predict if isinstance(self.model, VARidge) else self.model.predict_proba
        return {i: f(b.inputs(i)) for i in ids}

    def predict(self, bank: FeatureBank, ids: Sequence[int]) -> dict[int, np.ndarray]:
        """Post-processed: VA values, AU 0/1."""
        return {i: self.post.apply_track(p) for i, p in self.raw(bank, ids).items()}


def load_task(run: str | Path, task: str) -> LoadedTask:
    from ..training.runfolder import RunFolder

    path = task_file(run, task)
    if not path.exists():
        raise RunError(str(run), f"holds no {task.upper()} baseline ({path} is missing)",
                       f"fit one with `exprnet baseline --labels <{task.upper()}_Set>`")
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    rf = RunFolder(run)
    model = MODELS[task].from_arrays(arrays)
    post = POSTS[task].from_dict(json.loads(str(arrays["post"])))
    return LoadedTask(task, model, post, rf.read_config().resolved(), Standardizer.load(rf.stats))


def read_oof(run: str | Path, task: str) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """``(predictions, labels)`` per training track, out of fold (what the post-processing was fitted on)."""
    with np.load(oof_file(run, task)) as z:
        return ({k[2:]: z[k] for k in z.files if k.startswith("p:")}, {k[2:]: z[k] for k in z.files if k.startswith("y:")})
