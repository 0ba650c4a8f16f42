"""``exprnet infer --labels``: each given task scored on the tracks its folder annotates.

One folder per task (the task from its files' header): EXPR as the per-class F1 (the mean of 8,
and over the annotated classes), VA as the CCC of valence and arousal pooled over all annotated
frames of all tracks (and their mean), AU as the binary F1 per AU over annotated frames (and their
mean), computed by :mod:`exprnet.tasks.metrics` from exactly what the CSVs hold. A file with more
or fewer lines than the video's frames is scored on the frames both have, with a warning.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from featurizer.core.annotations import find_annotations, folder_task, read_labels

from ..config import CLASSES
from ..errors import ConfigError
from ..reports.metrics import confusion, per_class_f1
from ..tasks.metrics import au_scores, va_scores
from .infer import TrackPrediction


def _pred(p: TrackPrediction, task: str) -> np.ndarray | None:
    return {"expr": p.labels, "va": p.va, "au": p.au}[task]


def score_tracks(preds: Sequence[TrackPrediction], labels: Sequence[str]) -> dict[str, Any]:
    """Scores of every task in ``labels`` (folders) on ``preds``; ``warnings``: what to tell the user."""
    out: dict[str, Any] = {"tasks": [], "warnings": []}
    seen_tasks: dict[str, str] = {}
    for d in labels:
        files = find_annotations(d)
        task = folder_task(d, files)
        if task in seen_tasks:
            raise ConfigError(f"--labels {d}", f"holds {task.upper()} labels, as {seen_tasks[task]} does",
                              "pass one --labels folder per task")
        seen_tasks[task] = d
        if not preds or _pred(preds[0], task) is None:
            raise ConfigError(f"--labels {d}", f"holds {task.upper()} labels but the bundle does not predict "
                              f"{task.upper()}", "pass the labels of the bundle's tasks (its MODEL_CARD.md lists them)")
        pairs, per_track = [], {}
        for p in preds:
            if p.track not in files:
                continue
            y = read_labels(files[p.track].path).values
            got = _pred(p, task)
            n = min(len(y), len(got))
            if len(y) != len(got):
                out["warnings"].append(f"{files[p.track].path}: {len(y)} lines for {len(got)} video frames; "
                                       f"scored on the first {n}")
            pairs.append((p.track, got[:n], y[:n]))
        if not pairs:
            continue
        out["tasks"].append(task)
        if task == "expr":
            total = np.zeros((len(CLASSES), len(CLASSES)), np.int64)
            for t, got, y in pairs:
                cm = confusion(y, got)
                per_track[t] = float(per_class_f1(cm).mean())
                total += cm
            pc = per_class_f1(total)
            seen = total.sum(1) > 0  # a class not annotated scores 0 in the mean of 8 (whatever is predicted)
            out.update({"f1": float(pc.mean()), "f1_annotated_classes": float(pc[seen].mean()),
                        "annotated_classes": int(seen.sum()),
                        "per_class_f1": dict(zip(CLASSES, pc.tolist(), strict=True)), "tracks": per_track,
                        "labelled_frames": int(total.sum())})
        elif task == "va":
            y = np.concatenate([y for _, _, y in pairs])
            out.update(va_scores(np.concatenate([g for _, g, _ in pairs]), y))
            out["va_labelled_frames"] = int((~np.isnan(y).any(axis=1)).sum())
            out["va_tracks"] = [t for t, _, _ in pairs]
        else:
            y = np.concatenate([y for _, _, y in pairs])
            out.update(au_scores(np.concatenate([g for _, g, _ in pairs]), y))
            out["au_labelled_frames"] = int((y >= 0).all(axis=1).sum())
            out["au_tracks"] = [t for t, _, _ in pairs]
    return out
