"""An ensemble's post-processing: members calibrated, combined, then smoothed or decoded once.

Each member's probabilities are calibrated with the member's own calibration
(``RUN/calibration.json``, none for a run that has none) before they are combined, so a soft vote
averages probabilities on one scale. ``--smooth`` then applies to the combination:

- ``auto``: fitted on the training tracks all members share: the members' out-of-fold
  probabilities where every member kept them (``RUN/oof/probs.npz``), their own predictions there
  otherwise (in-sample: said in the record);
- ``KIND:optimistic``: chosen on the validation labels it is scored on (the caller
  cross-validates it over validation tracks and prints both figures).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from featurizer.core.annotations import find_annotations, read_annotation

from ..config import N_CLASSES
from ..data.tasks import expr_labels_dir
from ..errors import DataError
from ..postprocess.calibration import Calibration, ece, fit_calibration, read_calibration
from ..postprocess.choice import TrainingTracks, fit_spec
from ..postprocess.decoding import BALANCES, DECODERS, FITS, WEIGHTS, Spec, parse
from ..postprocess.processor import PostProcessor
from ..postprocess.smoothing import SmoothSpec, choose_k
from ..reports.metrics import macro_f1
from ..reports.progress import Reporter
from ..training.runfolder import RunFolder
from .combine import Combiner, stack
from .members import Member, member_probs

UNIFORM = np.full(N_CLASSES, 1.0 / N_CLASSES)  # members are class-balanced: their combination too
# ``exprnet ensemble``'s default decoding of a combination: viterbi or hsmm, chain and kind
# fitted out of fold on training videos
DEFAULT_SMOOTH = "auto"


def resolve_smooth(method: str, smooth_spec: str, runs: Sequence[str | Path] = ()) -> str:
    """``default``: a plain vote of labels (``--method vote``) is left as it is; any other method's
    combination is decoded once: with the members' own decoder (``KIND:auto``, refitted on the
    combination) when every one of ``runs`` decodes with the same kind (seeds of one recipe: the
    ensemble keeps the decoder they were tuned with, rather than switch kind on a cross-validated
    difference of a few thousandths), else with :data:`DEFAULT_SMOOTH` (issue 25's best:
    calibrated members combined, one decoder; ``auto``: whichever of ``viterbi:auto`` and
    ``hsmm:auto`` has the better cross-validated F1 on the training tracks)."""
    if smooth_spec.strip().lower() != "default":
        return smooth_spec
    if method == "vote":
        return "none"
    kinds = {(RunFolder(r).recorded_smoothing() or {}).get("kind") for r in runs}
    return f"{kinds.pop()}:auto" if len(kinds) == 1 and kinds <= set(DECODERS) else DEFAULT_SMOOTH


def auto_kinds(smooth_spec: str) -> list[Spec] | None:
    """:data:`DEFAULT_SMOOTH` (``auto``) as the decoders it chooses between (each ``KIND:auto``; the
    better cross-validated F1 wins: :func:`fixed_post`); None for any other spec."""
    return [parse(f"{k}:auto") for k in DECODERS] if smooth_spec.strip().lower() == DEFAULT_SMOOTH else None


def calibrations(members: Sequence[Member]) -> list[Calibration | None]:
    return [read_calibration(m.run) for m in members]


def calibrated(probs: dict[str, np.ndarray], cal: Calibration | None) -> dict[str, np.ndarray]:
    return probs if cal is None else {t: cal.calibrate(p) for t, p in probs.items()}


@dataclass
class MemberTraining:
    """The training tracks every member shares: each member's calibrated probabilities there."""

    names: list[str]
    per_member: list[list[np.ndarray]]  # member -> track -> (n, C) calibrated
    labels: list[np.ndarray]
    out_of_fold: bool  # every member kept out-of-fold probabilities (RUN/oof/probs.npz)
    source: str
    kept: list[bool] | None = None  # per member: its probabilities are out of fold (None: as out_of_fold)
    members: list[str] | None = None  # the members' names, for the record

    def oof_members(self) -> list[bool]:
        return list(self.kept) if self.kept is not None else [self.out_of_fold] * len(self.per_member)

    def combined(self, comb: Combiner) -> TrainingTracks:
        P = stack([dict(zip(self.names, m, strict=True)) for m in self.per_member], self.names)
        offs = np.cumsum([0] + [len(v) for v in self.labels])
        probs = [comb.combine(P[:, offs[i]:offs[i + 1]]) for i in range(len(self.names))]
        weighted = [k for k, w in zip(self.oof_members(), comb.weights, strict=True) if w > 0]
        source = self.source
        if comb.method != "vote" and weighted and all(weighted) and not self.out_of_fold:
            source = "out of fold (every member with a weight kept them)"
        return TrainingTracks(list(self.names), probs, list(self.labels), UNIFORM, source)


def member_training(members: Sequence[Member], cals: Sequence[Calibration | None], store: str, select: str,
                    device: str, reporter: Reporter) -> MemberTraining:
    """Each member's calibrated probabilities on the training tracks all members share: out of fold
    where the member kept them, its own (in-sample) predictions otherwise."""
    train = sorted(set.intersection(*[set(RunFolder(m.run).read_tracks()["train"]) for m in members]))
    if not train:
        raise DataError("--smooth auto", "the runs share no training track", "give a value, e.g. --smooth box:12")
    cfg = RunFolder(members[0].run).read_config()
    labels_dir = expr_labels_dir(cfg.data.labels, "exprnet ensemble")
    files = find_annotations(labels_dir, (cfg.data.train_split, cfg.data.val_split))
    labels = {t: read_annotation(files[t].path) for t in train}
    per, flags = [], []
    for m, cal in zip(members, cals, strict=True):
        cache = m.run / "oof" / "probs.npz"
        got = None
        if cache.exists():
            with np.load(cache) as z:
                if all(f"p:{t}" in z.files and len(z[f"p:{t}"]) == len(labels[t]) for t in train):
                    got = {t: z[f"p:{t}"] for t in train}
        flags.append(got is not None)
        if got is None:
            got = member_probs(m, store, train, select, device, reporter, labels_dir, labels)
        c = calibrated(got, cal)
        per.append([c[t] for t in train])
    return MemberTraining(train, per, [labels[t] for t in train], all(flags), training_source(flags), flags,
                          [m.name for m in members])


def training_source(flags: Sequence[bool]) -> str:
    """What members' training probabilities are, ``flags``: per member whether its are out of fold."""
    kept = sum(flags)
    return ("out of fold (every member kept them)" if kept == len(flags)
            else f"in-sample for {len(flags) - kept} of {len(flags)} members")


def shared_training(members: Sequence[Member], comb: Combiner, cals: Sequence[Calibration | None], store: str,
                    select: str, device: str, reporter: Reporter) -> TrainingTracks:
    """The combined, calibrated probabilities on the training tracks every member shares."""
    return member_training(members, cals, store, select, device, reporter).combined(comb)


def fixed_post(spec: Spec | Sequence[Spec], training: Callable[[], TrainingTracks], calibrate: bool = True
               ) -> tuple[PostProcessor, dict[str, Any] | None, Calibration | None]:
    """``--smooth`` (not optimistic) for the fitted combination: fixed, or fitted on the shared
    training tracks (:func:`~exprnet.postprocess.choice.fit_spec`), after a temperature fitted on
    the combination there (``calibrate``: averaged calibrated members are under-confident). Several
    ``auto`` decoders: the one with the best cross-validated F1 there."""
    if isinstance(spec, Sequence):
        got = [fixed_post(s, training, calibrate) for s in spec]
        cv = {g[0].kind: float(g[1]["cv_f1"]) for g in got if g[1]}
        best = max(got, key=lambda g: float(g[1]["cv_f1"]) if g[1] else -1.0)
        return best[0], {**(best[1] or {}), "kind_chosen_on": "training tracks: best cv_f1", "cv_f1_by_kind": cv}, best[2]
    if spec.kind == "none":
        return SmoothSpec(), None, None
    if isinstance(spec, SmoothSpec) and not spec.auto:
        return spec, {"kind": spec.kind, "width": spec.width, "chosen_on": "fixed"}, None
    tr = training()
    cal = fit_calibration(tr.probs, tr.labels, "temperature") if calibrate else None
    probs = tr.probs if cal is None else [cal.calibrate(p) for p in tr.probs]
    proc, info = fit_spec(spec, probs, tr.labels, tr.names, tr.prior)
    rec = None if cal is None else {**cal.to_dict(), "fitted_on": tr.source, "train_ece_before": ece(tr.probs, tr.labels),
                                    "train_ece_after": ece(probs, tr.labels)}
    return proc, {**proc.to_dict(), **info, "probabilities": tr.source, "calibration": rec}, cal


def optimistic_fitter(spec: Spec, chain_labels: Callable[[], list[np.ndarray]]
                      ) -> Callable[[list[np.ndarray], list[np.ndarray]], PostProcessor]:
    """``KIND:optimistic``: a function fitting the kind's free parameters on (validation) tracks;
    a decoder's chain always comes from the members' training labels."""
    def fit(probs: list[np.ndarray], labels: list[np.ndarray]) -> PostProcessor:
        if isinstance(spec, SmoothSpec):
            return SmoothSpec(spec.kind, choose_k(probs, labels, spec.kind)[0])
        chain = chain_labels()
        y = np.concatenate(labels)
        best: tuple[float, PostProcessor | None] = (-1.0, None)
        for b in BALANCES:
            for w in WEIGHTS:
                dec = FITS[spec.kind](chain, UNIFORM, w, b)
                f1 = macro_f1(y, np.concatenate(dec.paths(probs)))
                if f1 > best[0] + 1e-12:
                    best = (f1, dec)
        assert best[1] is not None
        return best[1]
    return fit
