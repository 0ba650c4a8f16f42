"""Which smoothing a run's predictions get (``--smooth`` of ``predict`` and ``ensemble``).

- ``run``: as the run recorded in its metrics.json (``smooth:`` at training, or the baseline's
  cross-validated width); none if it recorded none;
- ``KIND:WIDTH``: that;
- ``KIND`` or ``KIND:auto``: the run's recorded width when it recorded one for this kind,
  otherwise the width with the best F1 on the run's training tracks (never the tracks it is
  scored on). The choice is returned, to be recorded beside the predictions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..config import CLASSES, N_CLASSES, RunConfig
from ..data.bank import FeatureBank
from ..reports.metrics import confusion, per_class_f1
from ..reports.progress import Reporter
from .smoothing import (
    SmoothSpec,
    choose_k,
    from_config,
    parse_spec,
    resolve,
    smooth,
    tracks_for_width,
)

TrainingProbs = Callable[[], tuple[list[np.ndarray], list[np.ndarray]]]
WIDTH_FRAMES = 200_000  # an auto width after training is chosen on at most this many training frames


def smoothing_for_run(rec: dict[str, Any] | None, text: str, training_probs: TrainingProbs
                      ) -> tuple[SmoothSpec, dict[str, Any] | None]:
    """``text`` -> a fixed :class:`SmoothSpec` and what to record about the choice; ``rec``: the
    smoothing the run recorded (:meth:`~exprnet.training.runfolder.RunFolder.recorded_smoothing`)."""
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


def smoothing_after_training(cfg: RunConfig, bank: FeatureBank, train_ids: Sequence[int], val_ids: Sequence[int],
                             probs: Callable[[Sequence[int], str], dict[int, np.ndarray]], reporter: Reporter
                             ) -> dict[str, Any]:
    """``smooth:`` of a trained network: an ``auto`` width is chosen on its training tracks (its own
    predictions there; a seeded random subset of tracks beyond ``WIDTH_FRAMES`` frames), then
    applied to the validation tracks. Returns what metrics.json records."""
    spec = from_config(cfg.smooth.kind, cfg.smooth.width)
    ids = tracks_for_width(train_ids, [bank.length(i) for i in train_ids], WIDTH_FRAMES, cfg.train.seed)
    train = probs(ids, "smoothing: training tracks") if spec.auto else None
    spec, scores = resolve(spec, None if train is None else [train[i] for i in ids],
                           [bank.track_labels(i) for i in ids])
    cm = np.zeros((N_CLASSES, N_CLASSES), np.int64)
    for i, p in probs(val_ids, "smoothing: validation").items():
        cm += confusion(bank.track_labels(i), apply_smoothing(p, spec).argmax(-1))
    pc = per_class_f1(cm)
    reporter.message(f"smoothing {spec.describe()}: val F1 {pc.mean():.4f}")
    return {"kind": spec.kind, "width": spec.width, "chosen_on": "training tracks" if scores else "fixed",
            "train_f1_by_width": {str(k): v for k, v in scores.items()}, "val_f1": float(pc.mean()),
            "per_class_f1": dict(zip(CLASSES, pc.tolist(), strict=True)), "val_confusion": cm.tolist()}
