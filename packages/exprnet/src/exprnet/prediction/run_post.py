"""A multi-task run's fitted post-processing, applied when it predicts (``exprnet predict``).

What the run fitted after training on its training tracks (:mod:`exprnet.training.task_post`):
EXPR's calibration (``RUN/calibration.json``) and recorded smoothing or decoder (metrics.json
``smoothing``), VA's smoothing width and AU's per-AU smoothing and thresholds
(``RUN/task_post.json``; a VA/AU baseline run folder's: the post-processing in its
``checkpoints/baseline_<task>.npz``). A task the run fitted nothing for predicts raw: EXPR the most probable
class, VA the head's values, AU each probability at 0.5 (as validation scored them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..postprocess.calibration import Calibration, read_calibration
from ..postprocess.choice import PostProcessor, apply_all, chain_dicts, post_for_run
from ..postprocess.smoothing import SmoothSpec
from ..tasks.post import AUPost, VAPost
from ..training.runfolder import RunFolder
from ..training.task_post import posts_of, read_task_post


@dataclass
class RunPost:
    """The post-processing of a run for its ``tasks`` (:meth:`of` a run folder; as built: none)."""

    tasks: list[str]
    record: dict[str, Any] | None = None  # RUN/task_post.json
    cal: Calibration | None = None
    proc: PostProcessor = field(default_factory=SmoothSpec)
    smoothing: dict[str, Any] | None = None

    @classmethod
    def of(cls, run_dir: str | Path, tasks: Sequence[str]) -> RunPost:
        run = RunFolder(run_dir)
        cal = read_calibration(run.root) if "expr" in tasks else None
        proc, smoothing = post_for_run(run.recorded_smoothing() if "expr" in tasks else None, "run", _no_refit, cal)
        return cls(list(tasks), read_task_post(run.root) or baseline_post(run.root), cal, proc, smoothing)

    @property
    def posts(self) -> dict[str, VAPost | AUPost]:
        return posts_of(self.record)

    def apply(self, task: str, preds: Sequence[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per track: (what ``OUT/<folder>/<track>.npy`` holds, what the submission holds). EXPR:
        (posteriors after calibration and decoding, labels); VA: (values, the same); AU:
        (probabilities after smoothing, 0/1 after the thresholds)."""
        if task == "expr":
            return [(d.probs.astype(np.float32), d.labels) for d in apply_all(self.proc, preds, self.cal)]
        if task == "va":
            post = self.posts.get("va")
            return [(v, v) for v in (post.apply(preds) if isinstance(post, VAPost) else preds)]
        au = self.posts.get("au")
        if not isinstance(au, AUPost):
            return [(p, (np.asarray(p) >= 0.5).astype(np.int8)) for p in preds]
        return [(s, au.binarize(s)) for s in (au.smooth_track(p) for p in preds)]

    def describe(self) -> dict[str, Any]:
        """What predict's summary records about it."""
        out: dict[str, Any] = {"task_post": self.record}
        if "expr" in self.tasks:
            out.update({"smoothing": self.smoothing, "postprocess": chain_dicts(self.cal, self.proc)})
        return out


def baseline_post(run_dir: str | Path) -> dict[str, Any] | None:
    """A VA/AU baseline run folder's post-processing as a ``RUN/task_post.json`` record (None: not one)."""
    from ..baseline.tasks import baseline_tasks, load_task

    tasks = baseline_tasks(run_dir)
    return baseline_record({t: load_task(run_dir, t).post for t in tasks}) if tasks else None


def baseline_record(posts: dict[str, VAPost | AUPost]) -> dict[str, Any]:
    """A VA/AU baseline's fitted post-processing (per task) as a ``RUN/task_post.json`` record."""
    return {"source": "out of fold (the baseline's cross-validation)", **{t: p.to_dict() for t, p in posts.items()}}


def _no_refit() -> Any:
    raise AssertionError("predicting with the run's recorded post-processing fits nothing")
