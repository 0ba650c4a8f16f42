"""EXPR of an ensemble of multi-task runs, as the EXPR-only default does it (:mod:`.post`).

Each member's raw EXPR probabilities (``exprnet predict``'s multi-task path without its
post-processing) are calibrated with the member's own calibration (``RUN/calibration.json``; none
for a run without one), averaged, then go through ONE chain fitted by :func:`.post.fixed_post`: a
temperature on the combination, then a decoder with its ``auto`` parameters, of the kind the
EXPR-only default picks (:func:`expr_spec`: the members' own kind when they share one). Both are fitted on the
training tracks every member shares and EXPR annotates: on the members' out-of-fold probabilities
where every member kept ``RUN/oof/probs.npz`` (``p:<track>``), else on each member's own
(in-sample) predictions for those that kept none (the record says which); never on validation
labels. Every member ``smooth.kind: none`` (or no EXPR training labels): the calibrated mean's argmax.

Each member is scored as ``exprnet predict`` decides (:class:`~exprnet.prediction.run_post.RunPost`:
its own calibration, smoothing or decoder): the best member the ensemble must not lose to. A
bundle replays the chain exactly (:mod:`exprnet.deploy.make_task_ensemble`: the member
calibrations, then ``postprocess`` on the EXPR slice of the combined rows).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..postprocess.calibration import Calibration, read_calibration
from ..postprocess.choice import apply_all
from ..postprocess.decoding import Spec, parse
from ..postprocess.processor import Decoded, PostProcessor, processor_from_dict
from ..postprocess.smoothing import SmoothSpec
from ..tasks.combine import mean_probs
from ..training.runfolder import RunFolder
from .combine import Combiner
from .post import MemberTraining, auto_kinds, fixed_post, resolve_smooth, training_source
from .task_fit import kept_arrays

OOF_EXPR = Path("oof") / "probs.npz"


def member_calibrations(runs: Sequence[str | Path]) -> list[Calibration | None]:
    """Each member's own EXPR calibration (None: it has none, or the identity)."""
    cals = [read_calibration(r) for r in runs]
    return [None if c is None or c.identity else c for c in cals]


def oof_expr(run: str | Path, tracks: Sequence[str], lengths: Sequence[int]) -> list[np.ndarray] | None:
    """A run's out-of-fold EXPR training probabilities on ``tracks`` (None unless it kept all, each
    as long as its labels)."""
    return kept_arrays(Path(run) / OOF_EXPR, "p:", tracks, lengths)


def expr_training(runs: Sequence[str | Path], tracks: Sequence[str], labels: Sequence[np.ndarray],
                  cals: Sequence[Calibration | None], own: Callable[[int], list[np.ndarray]]) -> MemberTraining:
    """The members' calibrated EXPR probabilities on the shared annotated training ``tracks``: out
    of fold where a member kept them, else ``own(member)`` (its raw in-sample predictions there)."""
    per, flags = [], []
    for k, (run, cal) in enumerate(zip(runs, cals, strict=True)):
        got = oof_expr(run, tracks, [len(y) for y in labels])
        flags.append(got is not None)
        if got is None:
            got = own(k)
        per.append([p if cal is None else cal.calibrate(p) for p in got])
    return MemberTraining(list(tracks), per, list(labels), all(flags), training_source(flags), flags,
                          [Path(r).name for r in runs])


@dataclass
class ExprChain:
    """How the members' raw EXPR probabilities become the ensemble's posteriors and labels."""

    cals: list[Calibration | None]  # each member's own, before the mean
    temperature: Calibration | None = None  # the combination's, before ``proc``
    proc: PostProcessor = field(default_factory=SmoothSpec)
    record: dict[str, Any] | None = None  # fixed_post's: how ``proc`` and the temperature were chosen
    fitted_on: str = "nothing fitted"

    def combine(self, preds: Sequence[np.ndarray]) -> np.ndarray:
        """One track's members' raw probabilities -> each calibrated, their mean (float32, as a bundle
        combines the rows)."""
        return mean_probs([p if c is None else c.calibrate(p) for p, c in zip(preds, self.cals, strict=True)])

    def apply(self, combined: Sequence[np.ndarray]) -> list[Decoded]:
        """Tracks' combinations -> the chain's posteriors and labels (decoders over all tracks at once)."""
        return apply_all(self.proc, [np.asarray(q, np.float64) for q in combined], self.temperature)

    @property
    def chain(self) -> list[PostProcessor]:
        """What a bundle's ``postprocess`` holds, in order."""
        return ([self.temperature] if self.temperature is not None else []) + \
            ([self.proc] if self.proc.kind != "none" else [])

    def decision(self) -> str:
        steps = " then ".join(p.describe() for p in self.chain) or "the most probable class"
        return (f"each member calibrated with its own calibration, their mean probability, then {steps} "
                f"(fitted on {self.fitted_on})")

    def describe(self) -> list[str]:
        """The model card's EXPR lines."""
        temps = ", ".join("none" if c is None else f"{c.temperature:.3f}" for c in self.cals)
        return [f"each member's probabilities calibrated with its own calibration (temperatures {temps}), then "
                "their mean"] + [f"{p.describe()} (fitted on {self.fitted_on})" for p in self.chain]

    @classmethod
    def from_metrics(cls, metrics: dict[str, Any], n_members: int) -> ExprChain:
        """The chain an ensemble's metrics.json recorded (``calibration``, ``postprocess``; none: each
        member as it is, the mean's most probable class)."""
        where = "the ensemble's metrics.json"
        cals = [None if d is None else Calibration.from_dict(d, f"{where}: calibration")
                for d in metrics.get("calibration") or [None] * n_members]
        chain = [processor_from_dict(d, f"{where}: postprocess") for d in metrics.get("postprocess") or []]
        temp = chain.pop(0) if chain and isinstance(chain[0], Calibration) else None
        on = ((metrics.get("task_post") or {}).get("fitted_on") or {}).get("expr", {}).get("chosen_on", "nothing fitted")
        return cls(cals, temp, chain[0] if chain else SmoothSpec(), metrics.get("smooth"), str(on))

    def to_dict(self) -> dict[str, Any]:
        return {"calibration": [None if c is None else c.to_dict() for c in self.cals],
                "postprocess": [p.to_dict() for p in self.chain], "smooth": self.record, "fitted_on": self.fitted_on}


def expr_spec(runs: Sequence[str | Path]) -> str:
    """The EXPR decoding of an ensemble of ``runs``: ``none`` (the calibrated mean's most probable
    class) when every member's config says ``smooth.kind: none``, else the EXPR-only default
    (:func:`.post.resolve_smooth`: the members' own decoder kind when they share one, refitted on
    the combination; otherwise whichever of Viterbi and HSMM cross-validates better)."""
    if all(RunFolder(r).read_config().smooth.kind == "none" for r in runs):
        return "none"
    return resolve_smooth("mean", "default", runs)


def fit_expr_chain(spec: str, cals: Sequence[Calibration | None], training: Callable[[], MemberTraining | None]
                   ) -> ExprChain:
    """``spec``: :func:`expr_spec`'s (or any ``--smooth``); ``training``: :func:`expr_training`'s, or
    None when no EXPR labels of the shared training tracks were given."""
    parsed: Spec | list[Spec] = auto_kinds(spec) or parse(spec)
    if isinstance(parsed, Spec) and (parsed.kind == "none" or (isinstance(parsed, SmoothSpec) and not parsed.auto)):
        proc, rec, _ = fixed_post(parsed, _nothing)
        return ExprChain(list(cals), None, proc, rec, "nothing: " + spec)
    tr = training()
    if tr is None:
        return ExprChain(list(cals), None, SmoothSpec(), None, "nothing: no EXPR labels of the members' shared "
                         "training tracks given (the calibrated mean's most probable class)")
    proc, rec, temp = fixed_post(parsed, lambda: tr.combined(Combiner("mean", np.ones(len(cals)))))
    return ExprChain(list(cals), temp, proc, rec, f"{len(tr.names)} training tracks, {tr.source}")


def _nothing() -> Any:
    raise AssertionError("a fixed post-processing is fitted on nothing")
