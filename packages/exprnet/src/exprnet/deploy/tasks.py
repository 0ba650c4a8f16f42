"""A bundle's tasks beyond EXPR: valence-arousal (VA) and action units (AU).

A bundle made from multi-task runs (or VA- or AU-only ones) holds each run as a network member,
its heads side by side in :data:`~featurizer.core.classes.TASKS` order (EXPR's 8 probabilities,
VA's 2 values, AU's 12 probabilities); each member's manifest entry lists its own ``tasks``. The
manifest lists the bundle's ``tasks`` (those every member predicts) and ``task_post``: the VA
weights of the members (``va_weights``, (members, 2); equal when absent), the VA smoothing width
(:class:`~exprnet.tasks.post.VAPost`) and the AU per-AU smoothing and thresholds
(:class:`~exprnet.tasks.post.AUPost`), fitted on the runs' training tracks against training labels
(:mod:`exprnet.ensemble.task_fit`; never validation labels). The members are combined as
``exprnet ensemble`` combines them: VA their weighted mean, AU and EXPR their mean probability.
EXPR then goes through the bundle's ``postprocess`` chain, as an EXPR-only bundle's: a bundle of
one run keeps the run's own calibration (its member's ``calibration``, applied before the
combination) and smoothing or decoder (fitted out of fold on its training tracks,
:mod:`exprnet.training.task_post`); each stage acts on the EXPR slice of the row alone
(:class:`ExprSlice`); a bundle of several keeps each member's calibration and the chain
``exprnet ensemble`` fitted on the combination (a temperature, then the members' decoder or
smoother: :mod:`exprnet.ensemble.task_expr`). Without a chain, EXPR is each frame's most probable class.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from featurizer.core.classes import TASKS
from featurizer.core.store import FeatureStore

from ..data.bank import FeatureBank, Standardizer, load_bank
from ..ensemble.task_fit import TaskFit
from ..errors import BundleError, DataError
from ..models.blend import read_blend
from ..postprocess.processor import Decoded, PostProcessor
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
                     run.read_features(), blend=read_blend(run.root)), tasks


@dataclass(frozen=True)
class ExprSlice:
    """An EXPR post-processor (calibration, smoothing, decoder) acting on the EXPR slice of a
    multi-task row: the other tasks' outputs pass through; its labels are EXPR's."""

    proc: PostProcessor
    where: slice
    n_outputs: int

    @property
    def kind(self) -> str:
        return self.proc.kind

    @property
    def width(self) -> Any:
        return getattr(self.proc, "width", None)

    def _put(self, rows: np.ndarray, d: Decoded) -> Decoded:
        out = np.array(rows, np.float64, copy=True)
        out[:, self.where] = d.probs
        return Decoded(out, np.asarray(d.labels))

    def apply(self, rows: np.ndarray) -> Decoded:
        return self._put(rows, self.proc.apply(np.asarray(rows)[:, self.where]))

    def apply_many(self, tracks: Sequence[np.ndarray]) -> list[Decoded]:
        """Every track at once (a decoder's vectorised pass), as :func:`~exprnet.postprocess.choice.apply_all`."""
        from ..postprocess.choice import apply_all

        got = apply_all(self.proc, [np.asarray(r)[:, self.where] for r in tracks])
        return [self._put(r, d) for r, d in zip(tracks, got, strict=True)]

    def to_dict(self) -> dict[str, Any]:
        return self.proc.to_dict()

    def describe(self) -> str:
        return self.proc.describe()


def expr_sliced(proc: PostProcessor | None, tasks: Sequence[str]) -> Any:
    """``proc`` on the EXPR slice of rows of ``tasks`` (None stays None; EXPR-only rows: ``proc`` itself)."""
    if proc is None or list(tasks) == ["expr"]:
        return proc
    s = slices(tasks)
    return ExprSlice(proc, s["expr"], max(x.stop for x in s.values()))


def run_chain(chain: Sequence[PostProcessor], decoded: list[Decoded]) -> list[Decoded]:
    """A bundle's post-processing chain, each stage over every track at once (as the ensemble applied it)."""
    from ..postprocess.choice import apply_all

    for proc in chain:
        decoded = apply_all(proc, [d.probs for d in decoded])
    return decoded


def chain_outputs(task_post: TaskPost, rows: dict[str, np.ndarray], tasks: Sequence[str],
                  chain: Sequence[PostProcessor]) -> dict[str, TrackOutputs]:
    """Tracks' combined rows -> every task's outputs: EXPR through ``chain`` (:class:`ExprSlice`
    stages), VA and AU through ``task_post``."""
    names = list(rows)
    dec = run_chain(chain, [Decoded(np.asarray(rows[t], np.float64), np.zeros(len(rows[t]), np.int64))
                            for t in names])
    return {t: task_post.outputs(d.probs, tasks, d.labels if chain else None) for t, d in zip(names, dec, strict=True)}


@dataclass
class TrackOutputs:
    """One track's predictions of every task the bundle has (None: not one of its tasks)."""

    expr: Decoded | None = None
    va: np.ndarray | None = None  # (n, 2) valence, arousal in [-1, 1], smoothed
    au_probs: np.ndarray | None = None  # (n, 12) probabilities, smoothed per AU
    au: np.ndarray | None = None  # (n, 12) int8: au_probs >= the AU's threshold


@dataclass
class TaskPost:
    """The members' VA weights and the post-processing of VA and AU (None where the bundle lacks the task)."""

    va: VAPost | None = None
    au: AUPost | None = None
    va_weights: np.ndarray | None = None  # (members, 2); None: equal

    def fit(self, n_members: int) -> TaskFit:
        return TaskFit(n_members, self.va_weights, self.va or VAPost(), self.au or AUPost())

    def combine_rows(self, rows: Sequence[np.ndarray], member_tasks: Sequence[Sequence[str]], tasks: Sequence[str]
                     ) -> np.ndarray:
        """A track's outputs of each member (its own ``member_tasks``' widths) -> one row per frame of
        the ``tasks``' widths, the members combined as ``exprnet ensemble`` combines them (VA their
        weighted mean, AU and EXPR their mean probability), before any post-processing."""
        fit = self.fit(len(rows))
        parts = [fit.combine(t, [np.asarray(row)[:, slices(mt)[t]] for row, mt in zip(rows, member_tasks, strict=True)])
                 for t in slices(tasks)]
        return np.concatenate(parts, axis=1).astype(np.float32)

    def outputs(self, row: np.ndarray, tasks: Sequence[str], expr_labels: np.ndarray | None = None) -> TrackOutputs:
        """A track's outputs of one network, or of the members combined (:meth:`combine_rows`),
        (n, sum of widths) -> each task's post-processed predictions; EXPR's labels: ``expr_labels``
        (its chain's), else the most probable class."""
        fit = TaskFit(1, None, self.va or VAPost(), self.au or AUPost())
        s = slices(tasks)
        out = TrackOutputs()
        if "expr" in s:
            q = np.asarray(row[:, s["expr"]], np.float64)
            out.expr = Decoded(q, q.argmax(1) if expr_labels is None else np.asarray(expr_labels))
        if "va" in s:
            out.va = fit.output("va", row[:, s["va"]])
        if "au" in s:
            out.au_probs = fit.output("au", row[:, s["au"]])
            out.au = fit.decide("au", out.au_probs)
        return out

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {k: v.to_dict() for k, v in (("va", self.va), ("au", self.au)) if v is not None}
        if self.va_weights is not None:
            d["va_weights"] = np.asarray(self.va_weights, np.float64).tolist()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None, where: str) -> TaskPost:
        d = d or {}
        try:
            w = None if d.get("va_weights") is None else np.asarray(d["va_weights"], np.float64)
            if w is not None and (w.ndim != 2 or w.shape[1] != 2):
                raise ValueError(f"va_weights of shape {w.shape}")
            return cls(VAPost.from_dict(d["va"]) if "va" in d else None,
                       AUPost.from_dict(d["au"]) if "au" in d else None, w)
        except (KeyError, TypeError, ValueError, DataError) as e:
            raise BundleError(where, f"holds no valid task_post ({e})", "rebuild the bundle") from None

    def describe(self) -> list[str]:
        out = []
        w = None if self.va_weights is None else np.asarray(self.va_weights)
        if w is not None and len(w) > 1:
            out.append(f"members combined: VA their weighted mean (valence weights "
                       f"{', '.join(f'{x:.2f}' for x in w[:, 0])}; arousal {', '.join(f'{x:.2f}' for x in w[:, 1])}), "
                       "AU and EXPR their mean probability")
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


def member_tasks_of(manifest: dict[str, Any], tasks: Sequence[str]) -> list[list[str]]:
    """Each member's own tasks (its manifest entry's; the bundle's ``tasks`` where the entry lists none)."""
    return [list(e.get("tasks") or tasks) for e in manifest["members"]]


def member_tasks(bundle: Any) -> list[list[str]]:
    return member_tasks_of(bundle.manifest, bundle.tasks)


def check_member_tasks(entries: Sequence[dict[str, Any]], tasks: Sequence[str], where: str) -> None:
    """Every member predicts every task of the bundle."""
    for e in entries:
        own = e.get("tasks") or list(tasks)
        if not isinstance(own, list) or any(t not in TASKS for t in own) or any(t not in own for t in tasks):
            raise BundleError(where, f"member {e.get('name')!r} lists tasks {own!r}, not all of the bundle's "
                              f"{', '.join(tasks)}", "rebuild the bundle")


def task_outputs(bundle: Any, store: str, tracks: Sequence[str], reporter: Reporter | None = None,
                 absent: dict[str, set[str]] | None = None) -> dict[str, TrackOutputs]:
    """A multi-task bundle's members on ``tracks`` of ``store``, combined, each task post-processed."""
    from ..prediction.predict import check_bank
    from .members import dropped

    reader = FeatureStore(store, mode="r")
    banks: dict[tuple[str, ...], FeatureBank] = {}
    per_member = []
    for m in bundle.members:
        key = tuple(m.features)
        if key not in banks:
            banks[key] = load_bank(reader, m.features, list(tracks), None, "error")
        bank = banks[key]
        check_bank(m.lr, bank, store)
        if absent:
            bank = dropped(bank, m.lr.stats, absent)
        rows = m.predictor.probs(bank, reporter or NullReporter())
        cal = m.calibration  # EXPR's, on its slice (Bundle.load)
        per_member.append({t: rows[i] if cal is None else cal.apply(rows[i]).probs for i, t in enumerate(bank.tracks)})
    own = member_tasks(bundle)
    combined = {t: bundle.task_post.combine_rows([pm[t] for pm in per_member], own, bundle.tasks) for t in per_member[0]}
    return chain_outputs(bundle.task_post, combined, bundle.tasks, bundle.post)


OUTPUT_NAMES = {"va": list(VA_NAMES), "au": list(AU_NAMES)}
