"""A bundle's tasks beyond EXPR: valence-arousal (VA) and action units (AU).

A bundle made from a multi-task run (or a VA- or AU-only one) holds that run as its one network
member, its heads side by side in :data:`~featurizer.core.classes.TASKS` order (EXPR's 8
probabilities, VA's 2 values, AU's 12 probabilities). Its manifest lists ``tasks`` and
``task_post``: the VA smoothing width (:class:`~exprnet.tasks.post.VAPost`) and the AU per-AU
smoothing and thresholds (:class:`~exprnet.tasks.post.AUPost`), fitted on the run's training
tracks against training labels (the run's own predictions there; never validation labels).
EXPR from such a run is the network's probabilities, each frame's most probable class (no
calibration or decoding: those are fitted for EXPR-only ensembles).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from featurizer.core.classes import TASKS
from featurizer.core.store import FeatureStore

from ..data.bank import Standardizer, load_bank
from ..errors import BundleError, DataError
from ..postprocess.processor import Decoded
from ..prediction.predict import LoadedRun, load_run
from ..reports.progress import NullReporter, Reporter
from ..tasks.names import AU_NAMES, VA_NAMES
from ..tasks.post import AUPost, VAPost, fit_au_post, fit_va_post
from ..training.runfolder import RunFolder

WIDTH = {"expr": 8, "va": 2, "au": 12}


def slices(tasks: Sequence[str]) -> dict[str, slice]:
    """Where each task's outputs sit in the network's output row."""
    out, at = {}, 0
    for t in [t for t in TASKS if t in tasks]:
        out[t], at = slice(at, at + WIDTH[t]), at + WIDTH[t]
    return out


def run_tasks_of(run_dir: str | Path, select: str) -> list[str]:
    """The tasks of a run's ``select`` checkpoint (a baseline: EXPR)."""
    run = RunFolder(run_dir)
    if run.read_config().resolved().baseline is not None or not run.checkpoint(select).exists():
        return ["expr"]
    return list(run.load(select).get("tasks", ["expr"]))


def load_task_run(run_dir: str | Path, select: str = "best") -> tuple[LoadedRun, list[str]]:
    """A run of any tasks as a bundle member (EXPR-only runs: :func:`~exprnet.prediction.predict.load_run`)."""
    tasks = run_tasks_of(run_dir, select)
    if tasks == ["expr"]:
        return load_run(run_dir, select), tasks
    run = RunFolder(run_dir)
    ckpt = run.load(select)
    return LoadedRun(run.read_config().resolved(), Standardizer.load(run.stats), ckpt["model"], run,
                     run.read_features()), tasks


@dataclass
class TrackOutputs:
    """One track's predictions of every task the bundle has (None: not one of its tasks)."""

    expr: Decoded | None = None
    va: np.ndarray | None = None  # (n, 2) valence, arousal in [-1, 1], smoothed
    au_probs: np.ndarray | None = None  # (n, 12) probabilities, smoothed per AU
    au: np.ndarray | None = None  # (n, 12) int8: au_probs >= the AU's threshold


@dataclass
class TaskPost:
    """The post-processing of VA and AU (None where the bundle lacks the task)."""

    va: VAPost | None = None
    au: AUPost | None = None

    def outputs(self, row: np.ndarray, tasks: Sequence[str]) -> TrackOutputs:
        """A track's network outputs (n, sum of widths) -> each task's post-processed predictions."""
        s = slices(tasks)
        out = TrackOutputs()
        if "expr" in s:
            q = np.asarray(row[:, s["expr"]], np.float64)
            out.expr = Decoded(q, q.argmax(1))
        if "va" in s:
            out.va = (self.va or VAPost()).apply_track(row[:, s["va"]])
        if "au" in s:
            post = self.au or AUPost()
            out.au_probs = post.smooth_track(row[:, s["au"]])
            out.au = post.binarize(out.au_probs)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {k: v.to_dict() for k, v in (("va", self.va), ("au", self.au)) if v is not None}

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None, where: str) -> TaskPost:
        d = d or {}
        try:
            return cls(VAPost.from_dict(d["va"]) if "va" in d else None, AUPost.from_dict(d["au"]) if "au" in d else None)
        except (KeyError, TypeError, ValueError, DataError) as e:
            raise BundleError(where, f"holds no valid task_post ({e})", "rebuild the bundle") from None

    def describe(self) -> list[str]:
        out = []
        if self.va is not None:
            out.append(f"VA: {self.va.kind} smoothing of half-width {self.va.width} frames within each track, then "
                       "clipped to [-1, 1] (the width with the best pooled CCC on the training tracks)")
        if self.au is not None:
            per = ", ".join(f"{n} {t:.2f}/{w}" for n, t, w in zip(AU_NAMES, self.au.thresholds, self.au.widths,
                                                                   strict=True))
            out.append(f"AU: per AU a {self.au.kind} smoothing of its probability, then a threshold (threshold/"
                       f"half-width, chosen by F1 on the training tracks): {per}")
        return out


def fit_task_post(tasks: Sequence[str], preds: dict[str, list[np.ndarray]], trues: dict[str, list[np.ndarray]]
                  ) -> TaskPost:
    """VA and AU post-processing from training tracks' predictions and labels (per task, aligned lists)."""
    va = fit_va_post(preds["va"], trues["va"]) if "va" in tasks and trues.get("va") else None
    au = fit_au_post(preds["au"], trues["au"]) if "au" in tasks and trues.get("au") else None
    return TaskPost(va or (VAPost() if "va" in tasks else None), au or (AUPost() if "au" in tasks else None))


def task_outputs(bundle: Any, store: str, tracks: Sequence[str], reporter: Reporter | None = None,
                 absent: dict[str, set[str]] | None = None) -> dict[str, TrackOutputs]:
    """A multi-task bundle's one member on ``tracks`` of ``store``, each task post-processed."""
    from ..prediction.predict import check_bank
    from .members import dropped

    m = bundle.members[0]
    bank = load_bank(FeatureStore(store, mode="r"), m.features, list(tracks), None, "error")
    check_bank(m.lr, bank, store)
    if absent:
        bank = dropped(bank, m.lr.stats, absent)
    rows = m.predictor.probs(bank, reporter or NullReporter())
    return {t: bundle.task_post.outputs(rows[i], bundle.tasks) for i, t in enumerate(bank.tracks)}


OUTPUT_NAMES = {"va": list(VA_NAMES), "au": list(AU_NAMES)}
