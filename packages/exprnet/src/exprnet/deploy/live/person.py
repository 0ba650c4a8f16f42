"""One person's rows through the members, their combination and the post-processing chain."""

from __future__ import annotations

from collections import deque

import numpy as np

from ..tasks import member_tasks
from .members import runner_for
from .post import stage_for
from .tasks import TaskWindow, is_multitask


class Person:
    """Feature rows in (in frame order), decided rows out (probabilities, labels, frame meta)."""

    def __init__(self, name: str, bundle, modalities: dict[str, str], absent: set[str], lag: int):
        self.name, self.bundle = name, bundle
        self.runners = [runner_for(m, [modalities[f] for f in m.features], absent & set(m.features))
                        for m in bundle.members]
        self.out = [np.zeros((0, r.width), np.float64) for r in self.runners]
        self.multitask = is_multitask(bundle)  # members combined per task, VA/AU post-processing, then EXPR's chain
        self.stages = ([stage_for(TaskWindow(bundle), lag)] if self.multitask else []) + \
            [stage_for(p, lag) for p in bundle.post]  # (a multi-task bundle's: on the EXPR slice, its labels last)
        self.meta: deque = deque()  # (frame, time, arrival, face) of rows not yet decided

    @property
    def lookahead(self) -> int:
        """Frames after a frame that must arrive before it is decided."""
        return max([r.lookahead for r in self.runners] + [0]) + sum(s.lookahead for s in self.stages)

    def push(self, rows: list[dict], closed: bool = False) -> list[tuple]:
        """``rows``: {"features": {name: values}, "present": {name: bool}, "meta": (...)}; returns
        (meta, probabilities, label) of each row decided now (a multi-task bundle: the member's
        outputs side by side, VA/AU post-processed, in place of the probabilities)."""
        for r in rows:
            self.meta.append(r["meta"])
        for k, (m, run) in enumerate(zip(self.bundle.members, self.runners, strict=True)):
            if rows:
                vals = np.concatenate([np.stack([r["features"][f] for r in rows]) for f in m.features], axis=1)
                vals = np.clip(vals, -65504, 65504).astype(np.float16)  # the store's float16 rows
                pres = np.array([[r["present"][f] for f in m.features] for r in rows], bool)
                p = run.push(vals, pres)
            else:
                p = np.zeros((0, run.width), np.float32)
            if closed:
                p = np.concatenate([p, run.close()])
            self.out[k] = np.concatenate([self.out[k], p])
        n = min(len(o) for o in self.out)
        P = [o[:n] for o in self.out]
        self.out = [o[n:] for o in self.out]
        if self.multitask:  # the members combined as offline combines them (one member: its rows)
            q = (P[0] if len(P) == 1 else self.bundle.task_post.combine_rows(P, member_tasks(self.bundle),
                                                                            self.bundle.tasks)).astype(np.float64)
        else:
            q = self.bundle.combiner.combine(np.stack(P).astype(np.float64)) if n else np.zeros((0, 8))
        labels = q.argmax(1) if n else np.zeros(0, np.int64)
        for s in self.stages:
            q, labels = s.push(q, closed)
        return [(self.meta.popleft(), q[i], int(labels[i])) for i in range(len(q))]
