"""From a config to loaded data: labels, the train/validation split and the feature bank.

Every problem is reported before any training starts, naming the track (or file) at fault.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from featurizer.core.annotations import AnnotationFile, read_annotation
from featurizer.core.store import FeatureStore

from ..config import RunConfig
from ..errors import ConfigError, DataError, LabelError
from ..reports.progress import Reporter
from .bank import FeatureBank, load_bank
from .splits import Split, official_split, require_nonempty
from .tasks import (
    TaskFiles,
    check_lengths,
    empty_targets,
    find_task_files,
    label_dirs,
    read_task_labels,
)


@dataclass
class Prepared:
    bank: FeatureBank
    split: Split
    files: dict[str, AnnotationFile]  # every track's (EXPR alone: its EXPR file)
    task_files: TaskFiles | None = None

    @property
    def tasks(self) -> list[str]:
        return self.task_files.tasks if self.task_files else ["expr"]


def _require(cfg: RunConfig) -> tuple[str, str]:
    d = cfg.data
    missing = [flag for flag, v in (("--store", d.store), ("--labels", d.labels)) if not v]
    if not d.features:
        missing.append("--features")
    if missing:
        raise ConfigError(", ".join(missing), "required (as a flag, in --config, or in the preset)")
    return str(d.store), ", ".join(label_dirs(d.labels))


def choose_split(cfg: RunConfig, files: dict[str, AnnotationFile]) -> Split:
    d = cfg.data
    if d.train_tracks is None and d.val_tracks is None:
        return official_split(files, d.train_split, d.val_split)
    auto = official_split(files, d.train_split, d.val_split)
    split = Split(list(d.train_tracks if d.train_tracks is not None else auto.train),
                  list(d.val_tracks if d.val_tracks is not None else auto.val))
    unknown = sorted(set(split.train + split.val) - set(files))
    if unknown:
        raise LabelError(str(d.labels), f"no annotation file for track(s) {', '.join(unknown[:8])}")
    both = sorted(set(split.train) & set(split.val))
    if both:
        raise ConfigError("data.train_tracks / data.val_tracks", f"tracks in both: {', '.join(both[:8])}")
    return split


def load_labels(files: dict[str, AnnotationFile], tracks: Sequence[str]) -> dict[str, np.ndarray]:
    return {t: read_annotation(files[t].path) for t in tracks}


def prepare(cfg: RunConfig, progress: Callable[[str], None] | None = None,
            tracks: Sequence[str] | None = None) -> Prepared:
    """Labels, split and the feature bank of ``cfg`` (all split tracks, or ``tracks``)."""
    store, labels_dir = _require(cfg)
    tf = find_task_files(cfg.data.labels or [], (cfg.data.train_split, cfg.data.val_split))
    files = tf.tracks
    split = choose_split(cfg, files)
    require_nonempty(split, labels_dir)
    wanted = list(tracks) if tracks is not None else sorted(set(split.train) | set(split.val))
    labels = read_task_labels(tf, "expr", wanted) if "expr" in tf.folders else {}
    reader = FeatureStore(store, mode="r")
    others = {task: read_task_labels(tf, task, wanted) for task in tf.tasks if task != "expr"}
    if others:  # a wrong length names the file before any feature is read
        rows = {t: reader.n_frames(t) for t in wanted if reader.has_track(t)}
        for task, lab in others.items():
            check_lengths(tf, task, lab, rows)
    bank = load_bank(reader, cfg.data.features, wanted, labels, cfg.data.on_missing,
                     cfg.data.memmap, progress=progress, labels_dir=tf.folders.get("expr", labels_dir))
    for task, lab in others.items():
        bank.targets[task] = arr = empty_targets(task, bank.n_frames)
        for t in bank.tracks:
            if t in lab:
                arr[bank.rows(bank.index(t))] = lab[t]
    have = set(bank.tracks)
    split = Split([t for t in split.train if t in have], [t for t in split.val if t in have])
    require_nonempty(split, f"{labels_dir} (after leaving out tracks)")
    for task in tf.tasks:
        for name, ts in (("training", split.train), ("validation", split.val)):
            if bank.task_labelled(task, bank.ids(ts)) == 0:
                what = "(all -1)" if task == "expr" else f"(no {name} track has {task.upper()} labels)"
                raise DataError(tf.folders[task], f"the {name} split has no labelled frame {what}")
    return Prepared(bank, split, files, tf)


def expr_only(prep: Prepared, stage: str) -> None:
    """Refuse VA/AU labels in a stage that handles expressions only (as yet), naming the folders."""
    if prep.tasks != ["expr"]:
        other = ", ".join(f"{t.upper()} ({prep.task_files.folders[t]})" for t in prep.tasks if t != "expr" and prep.task_files)
        raise ConfigError("--labels", f"{stage} handles EXPR labels only for now, not {other}",
                          "pass the EXPR_Set folder alone here; `exprnet train` takes all three tasks")


def load_data(cfg: RunConfig, reporter: Reporter) -> Prepared:
    """:func:`prepare` with a progress bar and a one-line summary of what was loaded."""
    reporter.start("load features", None)
    try:
        prep = prepare(cfg, progress=lambda t: reporter.advance(1))
    finally:
        reporter.stop()
    b = prep.bank
    reporter.message(f"{len(b.tracks)} tracks, {b.n_frames} frames x {b.dim} dims "
                     f"({b.values.nbytes / 2**20:.0f} MiB float16); train {len(prep.split.train)} "
                     f"tracks, validation {len(prep.split.val)}")
    return prep
