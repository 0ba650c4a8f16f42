"""Which task each ``--labels`` folder holds, and the per-task label arrays of a run.

``data.labels`` names one annotation folder or several (one per task); each folder's task comes
from its files' header (:func:`featurizer.core.annotations.folder_task`): ``expr`` (EXPR_Set),
``va`` (VA_Set) or ``au`` (AU_Set). A track belongs to the run when any task annotates it; it is a
validation track when any task has it under Validation_Set (so no task trains on a track another
task validates on). Arrays per track as the core reads them: expr (n,) int8 -1 unannotated; va
(n, 2) float32 NaN unannotated; au (n, 12) int8 -1 unannotated. Tasks run in
:data:`~featurizer.core.classes.TASKS` order.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from featurizer.core.annotations import AnnotationFile, find_annotations, folder_task, read_labels
from featurizer.core.classes import TASKS

from ..errors import ConfigError, DataError, ExprnetWarning, LabelError

N_OUTPUTS = {"expr": 8, "va": 2, "au": 12}


def label_dirs(labels: str | Sequence[str] | None) -> list[str]:
    """``data.labels`` as a list of folders."""
    if labels is None:
        return []
    return [str(labels)] if isinstance(labels, str) else [str(x) for x in labels]


@dataclass
class TaskFiles:
    """Each task's folder and annotation files; ``tracks``: every track of the run, with the split
    it takes (validation wins where two tasks disagree)."""

    folders: dict[str, str]
    files: dict[str, dict[str, AnnotationFile]]
    tracks: dict[str, AnnotationFile]

    @property
    def tasks(self) -> list[str]:
        return [t for t in TASKS if t in self.folders]


def find_task_files(labels: str | Sequence[str], splits: tuple[str, str]) -> TaskFiles:
    """Each folder's files and task; one error if two folders hold one task."""
    folders: dict[str, str] = {}
    files: dict[str, dict[str, AnnotationFile]] = {}
    for d in label_dirs(labels):
        found = find_annotations(d, splits)
        task = folder_task(d, found)
        if task in folders:
            raise LabelError(d, f"holds {task.upper()} labels, as {folders[task]} does",
                             "pass one --labels folder per task (EXPR_Set, VA_Set, AU_Set)")
        folders[task], files[task] = d, found
    train_split, val_split = splits
    tracks: dict[str, AnnotationFile] = {}
    moved: list[str] = []
    for task in [t for t in TASKS if t in files]:
        for name, a in files[task].items():
            have = tracks.get(name)
            if have is None or (a.split == val_split and have.split != val_split):
                if have is not None and have.split == train_split:
                    moved.append(name)
                tracks[name] = a
            elif have.split == val_split and a.split == train_split:
                moved.append(name)
    if moved:
        warnings.warn(ExprnetWarning(
            f"{len(moved)} track(s) are training tracks of one task and validation tracks of another: "
            f"{', '.join(sorted(moved)[:6])}; they validate (no task trains on them)"), stacklevel=2)
    return TaskFiles(folders, files, tracks)


def read_task_labels(tf: TaskFiles, task: str, tracks: Sequence[str]) -> dict[str, np.ndarray]:
    """One task's arrays for those of ``tracks`` it annotates."""
    out: dict[str, np.ndarray] = {}
    for t in tracks:
        a = tf.files[task].get(t)
        if a is not None:
            out[t] = read_labels(a.path).values
    return out


def check_lengths(tf: TaskFiles, task: str, labels: Mapping[str, np.ndarray], rows: Mapping[str, int]) -> None:
    """A file with more or fewer frames than the track's stored rows: one error naming the file."""
    for t, v in labels.items():
        n = rows.get(t)
        if n is not None and len(v) != n:
            f = tf.files[task][t].path
            where = f"line {n + 2} is past the track's end" if len(v) > n else f"it ends at line {len(v) + 1}"
            raise DataError(str(f), f"{len(v)} frames but the store holds {n} rows for track {t!r} ({where})",
                            "re-extract with `featurizer extract --labels` on these annotation files")


def empty_targets(task: str, n: int) -> np.ndarray:
    """(n, k) of unannotated rows: NaN for va, -1 for au."""
    if task == "va":
        return np.full((n, N_OUTPUTS["va"]), np.nan, np.float32)
    return np.full((n, N_OUTPUTS[task]), -1, np.int8)


def annotated(task: str, values: np.ndarray) -> np.ndarray:
    """(n,) True where a row of ``task``'s array is annotated."""
    if task == "expr":
        return values >= 0
    if task == "va":
        return ~np.isnan(values).any(axis=1)
    return (values >= 0).all(axis=1)


def expr_labels_dir(labels: str | Sequence[str] | None, stage: str) -> str:
    """The EXPR folder, for stages that handle expressions only (as yet): one folder passes
    through unread; of several, the one whose header is EXPR's."""
    dirs = label_dirs(labels)
    if len(dirs) == 1:
        return dirs[0]
    for d in dirs:
        if folder_task(d) == "expr":
            return d
    raise ConfigError("--labels", f"{stage} handles EXPR only for now and none of {', '.join(dirs)} holds EXPR labels",
                      "pass the EXPR_Set folder")
