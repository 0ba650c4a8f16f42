"""Predict with a VA/AU baseline run folder (:mod:`exprnet.baseline.tasks`), as for a multi-task network.

Per task: ``OUT/va/<track>.npy`` (n, 2) smoothed valence/arousal, ``OUT/au/<track>.npy`` (n, 12)
smoothed AU probabilities, the submissions (``submission_va.txt``; ``submission_au.txt`` 0/1 after
the per-AU thresholds), all with the post-processing fitted out of fold on the training tracks. An
EXPR baseline in the same folder predicts as an EXPR-only run (``probs/``, ``submission.txt``).
The caller (:func:`exprnet.prediction.tasks.predict_tasks`) scores each given task from what
the submission files hold. ``raw`` (an ensemble's members): the models' own outputs without that
post-processing (VA values, AU probabilities, EXPR probabilities before calibration and decoding),
which :meth:`exprnet.prediction.run_post.RunPost.of` applies once.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from featurizer.core.files import atomic_write_bytes
from featurizer.core.store import FeatureStore

from ..baseline.fit import is_baseline
from ..baseline.tasks import baseline_tasks, load_task
from ..data.bank import load_bank
from ..data.provenance import check_features
from ..errors import DataError
from ..reports.progress import NullReporter, Reporter
from ..tasks.submission import AU_FILE, VA_FILE, write_au_submission, write_va_submission
from ..training.runfolder import RunFolder
from .predict import _npy_bytes, resolve_tracks
from .run_post import RunPost, baseline_record


def is_task_baseline(run: str | Path) -> bool:
    return bool(baseline_tasks(run))


def predict_baseline_tasks(run_dir: str | Path, store: str, tracks: Sequence[str] | str, out: str | Path,
                           reporter: Reporter | None = None,
                           allow_feature_mismatch: bool = False, raw: bool = False
                           ) -> tuple[dict[str, Any], dict[str, dict[str, np.ndarray]], tuple[str, str]]:
    """Write every task's arrays and submission; returns the summary, each task's per-track
    predictions as the submissions hold them, and the run's (train, validation) split names."""
    from .predict import predict

    reporter = reporter or NullReporter()
    run = RunFolder(run_dir)
    tasks = (["expr"] if is_baseline(run_dir) else []) + baseline_tasks(run_dir)
    reader = FeatureStore(store, mode="r")
    names = resolve_tracks(tracks, reader) if isinstance(tracks, str) else list(tracks)
    summary: dict[str, Any] = {"run": str(run_dir), "tasks": tasks, "submissions": {}}
    per_task: dict[str, dict[str, np.ndarray]] = {}
    if "expr" in tasks:
        s = predict(run_dir, store, names, out, reporter=reporter, allow_feature_mismatch=allow_feature_mismatch,
                    smooth="none" if raw else "run")
        summary.update(tracks=s["tracks"], frames=s["frames"])
        summary["submissions"]["expr"] = "submission.txt"
        from .predict import read_submission

        per_task["expr"] = read_submission(Path(out) / "submission.txt")
    loaded = {t: load_task(run_dir, t) for t in tasks if t != "expr"}
    cfg = next(iter(loaded.values())).cfg
    bank = load_bank(reader, cfg.data.features, names, None, "error")
    check_features(run.read_features(), bank.identities, store, str(run_dir), allow_feature_mismatch)
    if list(bank.dims) != list(next(iter(loaded.values())).stats.dims):
        raise DataError(store, f"feature dims {bank.dims} differ from the run's")
    ids = list(range(len(bank.tracks)))
    writers = {"va": (write_va_submission, VA_FILE), "au": (write_au_submission, AU_FILE)}
    post = RunPost(list(loaded), None if raw else baseline_record({t: lt.post for t, lt in loaded.items()}))
    for task, lt in loaded.items():
        got = lt.raw(bank, ids)
        (Path(out) / task).mkdir(parents=True, exist_ok=True)
        per_task[task] = {}
        for t, (kept, submitted) in zip(bank.tracks, post.apply(task, [got[i] for i in ids]), strict=True):
            atomic_write_bytes(Path(out) / task / f"{t}.npy", _npy_bytes(np.asarray(kept, np.float32)))
            per_task[task][t] = submitted
        write, name = writers[task]
        summary["frames"] = write(Path(out) / name, list(per_task[task].items()))
        summary["submissions"][task] = name
    summary["tracks"] = len(bank.tracks)
    return summary, per_task, (cfg.data.train_split, cfg.data.val_split)
