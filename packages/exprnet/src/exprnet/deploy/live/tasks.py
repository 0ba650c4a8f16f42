"""A multi-task bundle's VA and AU through live: its post-processing over a sliding window, and
the row columns ``exprnet infer`` writes for that bundle.

The bundle's members, combined per task (:meth:`~exprnet.deploy.tasks.TaskPost.combine_rows`; one member:
its rows), give each frame its outputs side by side (:func:`..tasks.slices`).
:class:`TaskWindow` replays the bundle's :class:`~exprnet.deploy.tasks.TaskPost` (VA: smoothing
within the track then clipping; AU: per-AU smoothing) on a window as a
:class:`~exprnet.deploy.live.post.Stage`: every smoothing is centred over +-k frames (box, or
gauss truncated at k), so a window of ``k`` frames either side (k the widest VA/AU half-width)
gives each decided frame exactly the frames offline smooths it with (track ends padded alike):
equal rows, with a lookahead of k frames. Thresholds are per frame.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ...postprocess.processor import Decoded
from ...tasks.names import AU_NAMES, VA_NAMES
from ...tasks.post import AUPost
from ..tasks import TaskPost, slices


def is_multitask(bundle: Any) -> bool:
    return list(bundle.tasks) != ["expr"]


class TaskWindow:
    """``apply(rows)`` as offline's per-track task post-processing (a Stage's ``proc``)."""

    kind = "tasks"

    def __init__(self, bundle: Any):
        self.tasks, self.post = list(bundle.tasks), bundle.task_post or TaskPost()
        self.slices = slices(self.tasks)
        self.n_outputs = max(s.stop for s in self.slices.values())
        widths = [self.post.va.width if self.post.va is not None else 0]
        if self.post.au is not None:
            widths.append(int(np.max(self.post.au.widths)))
        self.width = max(0, *[int(w) for w in widths])

    def apply(self, rows: np.ndarray) -> Decoded:
        """(n, outputs) network rows -> (n, outputs) with VA and AU probabilities post-processed;
        labels: EXPR's most probable class (0 without EXPR)."""
        x = np.asarray(rows, np.float32)  # offline's rows are float32
        o = self.post.outputs(x, self.tasks)
        out = x.copy()
        if o.va is not None:
            out[:, self.slices["va"]] = o.va
        if o.au_probs is not None:
            out[:, self.slices["au"]] = o.au_probs
        labels = o.expr.labels if o.expr is not None else np.zeros(len(x), np.int64)
        return Decoded(out, labels)


def task_columns_of(tasks: list[str]) -> list[str]:
    """The VA/AU columns rows of a bundle of ``tasks`` carry after its class columns (EXPR-only: none)."""
    cols = list(VA_NAMES) if "va" in tasks else []
    if "au" in tasks:
        cols += [f"{a}_prob" for a in AU_NAMES] + list(AU_NAMES)
    return cols


def row_columns(bundle: Any, q: np.ndarray, label: int) -> dict[str, Any]:
    """A decided frame's prediction columns, named as ``exprnet infer``'s CSV names them:
    ``expression`` and one probability per class (EXPR), ``valence, arousal`` (VA), ``AUk_prob``
    and ``AUk`` 0/1 after the bundle's thresholds (AU)."""
    if not is_multitask(bundle):
        return {"expression": bundle.classes[label], **{c: float(q[k]) for k, c in enumerate(bundle.classes)}}
    s = slices(bundle.tasks)
    row: dict[str, Any] = {}
    if "expr" in s:
        p = q[s["expr"]]
        row["expression"] = bundle.classes[label]
        row.update({c: float(p[k]) for k, c in enumerate(bundle.classes)})
    if "va" in s:
        row.update({c: float(v) for c, v in zip(VA_NAMES, q[s["va"]], strict=True)})
    if "au" in s:
        p = np.asarray(q[s["au"]], np.float32)
        on = (bundle.task_post.au or AUPost()).binarize(p[None])[0]
        row.update({f"{a}_prob": float(v) for a, v in zip(AU_NAMES, p, strict=True)})
        row.update({a: int(v) for a, v in zip(AU_NAMES, on, strict=True)})
    return row


def decided_row(bundle, track: str, meta: tuple, probs: np.ndarray, label: int, visual: bool) -> dict:
    """One decided frame's row: frame, time, track, expression, face, the task columns and its
    latency from ``meta`` = (frame, time, arrival, face) (``dropped`` is added by the engine)."""
    frame, t, arrival, face = meta
    now = time.perf_counter()
    row: dict = {"frame": frame, "time": round(t, 6), "track": track}
    cols = row_columns(bundle, probs, label)
    if "expression" in cols:
        row["expression"] = cols.pop("expression")
    row["face"] = face if visual else None
    row.update(cols)
    row["latency_ms"] = round((now - arrival) * 1000, 1)
    return row
