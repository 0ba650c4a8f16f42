"""Which post-processing predictions get, fitted on training tracks only; and applying it.

A run's post-processing is a chain: its calibration (:mod:`.calibration`), then ``--smooth``
(a smoothing, :mod:`.smoothing`, or a decoder, :mod:`.decoding`). Everything a chain fits is
fitted on training tracks' probabilities (out of fold where the caller has them: a baseline's
cross-validation groups, a network's ``smooth.folds`` sub-runs, the runs' kept ``RUN/oof``) and
their labels, never on the tracks it is scored on:

- :func:`fit_postprocess`: the calibration, then ``spec`` on the calibrated probabilities
  (:func:`fit_spec`); what a baseline and a network fit at the end of training;
- :func:`post_for_run` (``--smooth`` of ``predict`` and the bench): ``run`` replays what the run
  recorded (every fitted parameter); ``KIND:WIDTH`` / ``KIND:WEIGHT`` is that (a decoder's chain
  from the run's training labels); ``KIND`` or ``KIND:auto`` reuses what the run recorded for this
  kind when it chose it itself, otherwise fits it on the run's training tracks. The run's
  calibration (``RUN/calibration.json``) comes first whatever ``--smooth`` says;
- :func:`apply_all`: a fitted chain on many tracks (decoders in one vectorised pass).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from featurizer.core.annotations import source_video

from ..data.splits import track_groups
from .calibration import Calibration, ece, fit_calibration
from .decoding import DecodeSpec, Spec, fit_decoder, parse
from .processor import Decoded, PostProcessor, normalised, processor_from_dict
from .smoothing import SmoothSpec, choose_k

GROUPS = 3  # source-video groups an ``auto`` decoder is cross-validated over


@dataclass
class TrainingTracks:
    """Training tracks as a post-processing is fitted on them."""

    names: list[str]
    probs: list[np.ndarray]  # the model's probabilities (uncalibrated unless the caller says so)
    labels: list[np.ndarray]
    prior: np.ndarray  # what the probabilities were trained towards (:mod:`.priors`)
    source: str  # e.g. "in-sample" or "out of fold"


@dataclass(frozen=True)
class Fitted:
    calibration: Calibration
    processor: PostProcessor
    record: dict[str, Any]  # metrics.json ``smoothing``: the processor's dict, how it was chosen

    @property
    def chain(self) -> list[dict[str, Any]]:
        """The chain as processor dicts (what a bundle replays through ``processor_from_dict``)."""
        return chain_dicts(self.calibration, self.processor)


def chain_dicts(cal: Calibration | None, proc: PostProcessor) -> list[dict[str, Any]]:
    return ([cal.to_dict()] if cal is not None and not cal.identity else []) + \
        ([proc.to_dict()] if proc.kind != "none" else [])


def fit_spec(spec: Spec, probs: Sequence[np.ndarray], labels: Sequence[np.ndarray], names: Sequence[str] | None,
             prior: np.ndarray, seed: int = 0, groups: Sequence[Sequence[int]] | None = None
             ) -> tuple[PostProcessor, dict[str, Any]]:
    """``spec`` fitted on these (calibrated) training probabilities: a fixed smoothing as it is, an
    ``auto`` width by :func:`~.smoothing.choose_k`, a decoder by :func:`~.decoding.fit_decoder`
    (its ``auto`` cross-validated over ``groups``, by default :data:`GROUPS` groups of ``names``'
    source videos). Returns the processor and how it was chosen."""
    if isinstance(spec, DecodeSpec):
        if groups is None and spec.auto:
            groups = track_groups(list(names or []), GROUPS, source_video)
        return fit_decoder(spec, probs, labels, groups, prior, seed)
    if spec.kind == "none":
        return SmoothSpec(), {"chosen_on": "fixed"}
    if not spec.auto:
        return spec, {"chosen_on": "fixed"}
    k, scores = choose_k(probs, labels, spec.kind)
    return SmoothSpec(spec.kind, k), {"chosen_on": "training tracks",
                                      "train_f1_by_width": {str(w): v for w, v in scores.items()}}


def fit_postprocess(spec: Spec, calibrate: str, probs: Sequence[np.ndarray], labels: Sequence[np.ndarray],
                    groups: Sequence[Sequence[int]] | None, prior: np.ndarray, source: str, seed: int = 0) -> Fitted:
    """Calibration (``calibrate``: none, temperature, bias) and ``spec`` fitted on these training
    tracks; ``source`` says what their probabilities are (recorded)."""
    cal = fit_calibration(probs, labels, calibrate, seed) if calibrate != "none" else Calibration()
    cprobs = [cal.calibrate(p) for p in probs]
    proc, info = fit_spec(spec, cprobs, labels, None, prior, seed, groups)
    cal_rec = {**cal.to_dict(), "mode": calibrate, "fitted_on": source,
               "train_ece_before": ece(list(probs), list(labels)), "train_ece_after": ece(cprobs, list(labels))}
    return Fitted(cal, proc, {**proc.to_dict(), **info, "probabilities": source, "calibration": cal_rec})


def apply_all(proc: PostProcessor, tracks: Sequence[np.ndarray], cal: Calibration | None = None) -> list[Decoded]:
    """``cal`` (if any) then ``proc`` on every track (decoders in one vectorised pass)."""
    probs = [cal.calibrate(p) if cal is not None else np.asarray(p) for p in tracks]
    many = getattr(proc, "apply_many", None)
    if many is not None:
        return many(probs)
    if isinstance(proc, SmoothSpec) and proc.kind == "none":
        return [Decoded(normalised(p), np.asarray(p).argmax(1)) for p in probs]
    return [proc.apply(p) for p in probs]


def describe_record(rec: dict[str, Any]) -> str:
    """One line for a recorded post-processing (metrics.json ``smoothing``)."""
    if rec.get("kind") in ("viterbi", "hsmm"):
        return f"{rec['kind']} weight {rec['weight']:g} balance {rec.get('balance', 0):g}"
    if rec.get("kind") in (None, "none"):
        return "none"
    return f"{rec.get('kind')} +-{rec.get('width')}"


def post_for_run(rec: dict[str, Any] | None, text: str, training: Callable[[], TrainingTracks],
                 cal: Calibration | None = None) -> tuple[PostProcessor, dict[str, Any] | None]:
    """``text`` -> a fitted processor and what to record about the choice; ``rec``: what the run
    recorded (:meth:`~exprnet.training.runfolder.RunFolder.recorded_smoothing`); ``cal``: the
    run's calibration, applied to the training probabilities before anything is fitted on them."""
    if text == "run":
        if rec is None:
            return SmoothSpec(), None
        return processor_from_dict(rec, "the run's recorded post-processing"), {**rec, "source": "recorded by the run"}
    spec = parse(text)
    if spec.kind == "none":
        return SmoothSpec(), None
    if isinstance(spec, SmoothSpec) and not spec.auto:
        return spec, {"kind": spec.kind, "width": spec.width, "chosen_on": "fixed"}
    if spec.auto and rec is not None and rec["kind"] == spec.kind and rec.get("chosen_on") != "fixed":
        return processor_from_dict(rec, "the run's recorded post-processing"), {**rec, "source": "recorded by the run"}
    tr = training()
    probs = [cal.calibrate(p) for p in tr.probs] if cal is not None else tr.probs
    proc, info = fit_spec(spec, probs, tr.labels, tr.names, tr.prior)
    return proc, {**proc.to_dict(), **info, "probabilities": tr.source}
