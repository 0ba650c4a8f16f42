"""Train/validation splits: the official folders, and the paper's cross-validation folds.

CV with ``n`` folds: ``n - 1`` folds cut from Train_Set by source video (``X_left`` and
``X_right`` always together; any other name is its own video), balanced by labelled frames, plus
the official Validation_Set as fold ``n``. Fold ``k < n`` validates on its Train_Set part and
trains on everything else (the other Train_Set folds and Validation_Set); fold ``n`` is the
official split.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from featurizer.core.annotations import AnnotationFile, source_video

from ..errors import DataError, ExprnetWarning


@dataclass(frozen=True)
class Split:
    train: list[str]
    val: list[str]


@dataclass(frozen=True)
class Fold:
    index: int  # 1-based
    train: list[str]
    val: list[str]

    @property
    def name(self) -> str:
        return f"fold{self.index}"


def official_split(files: Mapping[str, AnnotationFile], train_split: str = "Train_Set",
                   val_split: str = "Validation_Set") -> Split:
    train = sorted(t for t, f in files.items() if f.split == train_split)
    val = sorted(t for t, f in files.items() if f.split == val_split)
    other = sorted(str(f.path) for f in files.values() if f.split not in (train_split, val_split))
    if other:
        shown = ", ".join(other[:5]) + (f" and {len(other) - 5} more" if len(other) > 5 else "")
        warnings.warn(ExprnetWarning(
            f"{len(other)} annotation file(s) under neither {train_split} nor {val_split} are not "
            f"used: {shown}"), stacklevel=2)
    return Split(train, val)


def require_nonempty(split: Split, where: str) -> None:
    for name, tracks in (("training", split.train), ("validation", split.val)):
        if not tracks:
            raise DataError(where, f"the {name} split is empty",
                            "annotation files go under Train_Set/ and Validation_Set/ folders")


def make_folds(train_weights: Mapping[str, int], val_tracks: Sequence[str], n_folds: int) -> list[Fold]:
    """See the module doc; ``train_weights`` = labelled frames per Train_Set track."""
    if n_folds < 2:
        raise DataError("--folds", f"needs at least 2 folds, got {n_folds}")
    k = n_folds - 1
    groups: dict[str, list[str]] = {}
    for t in sorted(train_weights):
        groups.setdefault(source_video(t), []).append(t)
    if len(groups) < k:
        raise DataError("Train_Set", f"has {len(groups)} source video(s), too few for {k} folds",
                        f"use --folds {len(groups) + 1} or fewer")
    shared = sorted({source_video(t) for t in val_tracks} & set(groups))
    if shared:
        warnings.warn(ExprnetWarning(
            "source video(s) with tracks in both Train_Set and Validation_Set: "
            f"{', '.join(shared[:8])}; their Train_Set tracks stay in one fold"), stacklevel=2)
    weight = {g: sum(max(1, train_weights[t]) for t in ts) for g, ts in groups.items()}
    folds: list[list[str]] = [[] for _ in range(k)]
    load = [0] * k
    for g in sorted(groups, key=lambda g: (-weight[g], g)):
        j = min(range(k), key=lambda i: (load[i], i))
        folds[j].extend(groups[g])
        load[j] += weight[g]
    val = sorted(val_tracks)
    out = []
    for i in range(k):
        rest = sorted(t for j in range(k) if j != i for t in folds[j])
        out.append(Fold(i + 1, sorted(rest + val), sorted(folds[i])))
    out.append(Fold(n_folds, sorted(train_weights), val))
    return out


def track_groups(tracks: Sequence[str], k: int, group_of: Callable[[str], str]) -> list[list[int]]:
    """Split track indices into <= k folds, keeping tracks of one group (source video) together."""
    groups: dict[str, list[int]] = {}
    for i, t in enumerate(tracks):
        groups.setdefault(group_of(t), []).append(i)
    k = max(1, min(k, len(groups)))
    folds: list[list[int]] = [[] for _ in range(k)]
    for g in sorted(groups, key=lambda g: (-len(groups[g]), g)):
        min(folds, key=len).extend(groups[g])
    return [f for f in folds if f]
