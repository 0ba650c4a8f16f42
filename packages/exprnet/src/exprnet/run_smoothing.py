"""Which smoothing a run's predictions get (``--smooth`` of ``predict`` and ``ensemble``).

- ``run``: as the run recorded in its metrics.json (``smooth:`` at training, or the baseline's
  cross-validated width); none if it recorded none;
- ``KIND:WIDTH``: that;
- ``KIND`` or ``KIND:auto``: the run's recorded width when it recorded one for this kind,
  otherwise the width with the best F1 on the run's training tracks (never the tracks it is
  scored on). The choice is returned, to be recorded beside the predictions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .runfolder import RunFolder
from .smoothing import SmoothSpec, choose_k, parse_spec, smooth

TrainingProbs = Callable[[], tuple[list[np.ndarray], list[np.ndarray]]]


def recorded(run: RunFolder) -> dict[str, Any] | None:
    """The smoothing a run recorded (kind, width, chosen_on), if any."""
    if not run.metrics.exists():
        return None
    s = run.read_metrics().get("smoothing")
    return s if s and s.get("kind") not in (None, "none") and s.get("width") is not None else None


def smoothing_for_run(run: RunFolder, text: str, training_probs: TrainingProbs
                      ) -> tuple[SmoothSpec, dict[str, Any] | None]:
    """``text`` -> a fixed :class:`SmoothSpec` and what to record about the choice."""
    rec = recorded(run)
    if text == "run":
        if rec is None:
            return SmoothSpec(), None
        return SmoothSpec(rec["kind"], int(rec["width"])), {**rec, "source": "recorded by the run"}
    spec = parse_spec(text)
    if spec.kind == "none":
        return spec, None
    if not spec.auto:
        return spec, {"kind": spec.kind, "width": spec.width, "chosen_on": "fixed"}
    if rec is not None and rec["kind"] == spec.kind and rec.get("chosen_on") != "fixed":
        return SmoothSpec(spec.kind, int(rec["width"])), {**rec, "source": "recorded by the run"}
    probs, labels = training_probs()
    k, scores = choose_k(probs, labels, spec.kind)
    return SmoothSpec(spec.kind, k), {"kind": spec.kind, "width": k, "chosen_on": "training tracks",
                                      "train_f1_by_width": {str(w): v for w, v in scores.items()}}


def apply_smoothing(probs: np.ndarray, spec: SmoothSpec) -> np.ndarray:
    """One track's probabilities under a fixed spec."""
    return smooth(probs, spec.width or 0, spec.kind)
