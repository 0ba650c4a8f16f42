"""A VA/AU ensemble's combination and post-processing, fitted on the members' training predictions.

Per task, on the training tracks every member shares and the task annotates:

- the members' out-of-fold predictions where every member kept them (``RUN/oof/tasks.npz``:
  ``va:<track>`` (n, 2) values, ``au:<track>`` (n, 12) probabilities), else each member's own
  predictions there (``in-sample``, said in the record);
- VA: per dimension the simplex weights with the best pooled CCC
  (:func:`~exprnet.tasks.combine.fit_va_weights`) when out of fold, equal weights otherwise (in-sample
  predictions favour whichever member fits its training tracks best); then the smoothing width of
  the weighted mean (:func:`~exprnet.tasks.post.fit_va_post`);
- AU: the members' mean probability, per AU a smoothing width and a threshold
  (:func:`~exprnet.tasks.combine.fit_au_ensemble`);
- EXPR: the members' mean probability, its argmax (nothing fitted).

Without training labels of a task: equal weights, no smoothing, AU thresholds at 0.5.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..tasks.combine import combine_va, fit_au_ensemble, fit_va_weights, mean_probs
from ..tasks.names import N_VA
from ..tasks.post import AUPost, VAPost, fit_va_post

OOF_TASKS = Path("oof") / "tasks.npz"
FITTED = ("va", "au")  # the tasks whose combination or post-processing is fitted


def oof_tasks(run: str | Path, task: str, tracks: Sequence[str], lengths: Sequence[int]) -> list[np.ndarray] | None:
    """A run's out-of-fold training predictions of ``task`` on ``tracks`` (None unless it kept all,
    each as long as its labels): a network's ``RUN/oof/tasks.npz``, a VA/AU baseline's ``RUN/oof/<task>.npz``."""
    from ..baseline.tasks import oof_file

    got = kept_arrays(Path(run) / OOF_TASKS, f"{task}:", tracks, lengths)
    return got if got is not None else kept_arrays(oof_file(run, task), "p:", tracks, lengths)


def kept_arrays(path: Path, prefix: str, tracks: Sequence[str], lengths: Sequence[int]) -> list[np.ndarray] | None:
    """``prefix<track>`` of each of ``tracks`` from the npz at ``path`` as float32 (None unless it
    holds all, each of its length)."""
    if not path.exists():
        return None
    with np.load(path) as z:
        keys = [f"{prefix}{t}" for t in tracks]
        if not all(k in z.files for k in keys):
            return None
        got = [np.asarray(z[k], np.float32) for k in keys]
    return got if all(len(g) == n for g, n in zip(got, lengths, strict=True)) else None


@dataclass
class TaskFit:
    """How the members' outputs become each task's prediction (see the module doc)."""

    n_members: int
    va_weights: np.ndarray | None = None  # (M, 2); None: equal
    va: VAPost = field(default_factory=VAPost)
    au: AUPost = field(default_factory=AUPost)
    info: dict[str, Any] = field(default_factory=dict)  # per task: what it was fitted on

    def weights(self) -> np.ndarray:
        return (np.full((self.n_members, N_VA), 1.0 / self.n_members) if self.va_weights is None
                else np.asarray(self.va_weights, np.float64))

    def combine(self, task: str, preds: Sequence[np.ndarray]) -> np.ndarray:
        """One track's combination of the members' raw outputs (VA weighted mean, else mean probability)."""
        return combine_va(preds, self.weights()) if task == "va" else mean_probs(preds)

    def output(self, task: str, combined: np.ndarray) -> np.ndarray:
        """What the ensemble keeps per frame: smoothed VA values, smoothed AU probabilities, EXPR probabilities."""
        if task == "va":
            return self.va.apply_track(combined)
        return self.au.smooth_track(combined) if task == "au" else combined

    def decide(self, task: str, out: np.ndarray) -> np.ndarray:
        """What the submission holds and the metric scores: EXPR labels, VA values, AU 0/1."""
        if task == "expr":
            return out.argmax(1)
        return self.au.binarize(out) if task == "au" else out

    def to_dict(self) -> dict[str, Any]:
        return {"va": self.va.to_dict(), "au": self.au.to_dict(), "va_weights": self.weights().tolist(),
                "fitted_on": self.info}


def fit_tasks(tasks: Sequence[str], preds: dict[str, list[list[np.ndarray]]], trues: dict[str, list[np.ndarray]],
              out_of_fold: dict[str, bool], n_members: int) -> TaskFit:
    """``preds[task]``: per member, per training track its raw outputs; ``trues[task]``: the labels
    of those tracks; ``out_of_fold[task]``: whether every member's predictions there are."""
    fit = TaskFit(n_members)
    for task in [t for t in FITTED if t in tasks]:
        if not trues.get(task):
            fit.info[task] = {"chosen_on": "nothing: no training labels of the task given (equal weights, no "
                                           "smoothing, AU thresholds 0.5)"}
            continue
        oof = bool(out_of_fold.get(task))
        source = "training tracks, out of fold" if oof else "training tracks, in-sample (the members' own predictions)"
        rec: dict[str, Any] = {"chosen_on": source, "tracks": len(trues[task])}
        if task == "va":
            if oof and n_members > 1:
                fit.va_weights = fit_va_weights(preds["va"], trues["va"])
                rec["weights"] = "pooled CCC per dimension, " + source
            else:
                rec["weights"] = "equal" + ("" if n_members == 1 else ": no out-of-fold VA predictions of every member")
            combined = [fit.combine("va", ps) for ps in zip(*preds["va"], strict=True)]
            fit.va = fit_va_post(combined, trues["va"])
        else:
            fit.au = fit_au_ensemble(preds["au"], trues["au"])
        fit.info[task] = rec
    return fit
