"""``exprnet ensemble``: combine runs on the validation split, estimate honestly, write outputs.

    OUT/metrics.json        val_f1 (fit and scored on validation), val_f1_cv (cross-validated over
                            validation tracks, by source video), per_class_f1, members, weights,
                            and ``selection``: the same ensemble with every member at its best
                            and at its last epoch (best-epoch selection peeks at validation)
    OUT/members.csv         per-member and ensemble F1 (the paper's Table 3 shape)
    OUT/probs/<track>.npy   ensemble probabilities on the validation tracks
    OUT/submission.txt      for --tracks (test), if given
    OUT/confusion.png, OUT/agreement.png
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from featurizer.core.annotations import find_annotations, read_annotation, source_video
from featurizer.core.files import atomic_write_bytes, atomic_write_csv, atomic_write_json

from ..config import CLASSES
from ..errors import ConfigError, DataError
from ..postprocess.calibration import Calibration, ece
from ..postprocess.choice import apply_all
from ..postprocess.decoding import parse
from ..postprocess.processor import Decoded, PostProcessor, processor_from_dict
from ..postprocess.smoothing import SmoothSpec
from ..prediction.predict import write_submission
from ..reports.metrics import confusion, macro_f1, per_class_f1
from ..reports.plots import _figure, atomic_savefig, plot_confusion
from ..reports.progress import NullReporter, Reporter
from ..training.runfolder import RunFolder
from .combine import METHODS, Combiner, cross_validated, fit_combiner, fits_on_validation, stack
from .members import Member, member_info, member_probs
from .oof import fit_oof_weights
from .post import (
    auto_kinds,
    calibrated,
    calibrations,
    fixed_post,
    member_training,
    optimistic_fitter,
    resolve_smooth,
    shared_training,
)

OptimisticFit = Callable[[list[np.ndarray], list[np.ndarray]], PostProcessor]

SELECTIONS = ("best", "last")
DEFAULT_METHOD = "oof"  # the members' calibrated probabilities, weighted as measured out of fold, then post.DEFAULT_SMOOTH


@dataclass
class Scored:
    """One checkpoint selection's ensemble on validation."""

    member_f1: list[float]  # each member's calibrated argmax
    member_f1_decoded: list[float]  # each member after its own recorded post-processing (what it earned)
    comb: Combiner
    opt: PostProcessor | None  # ``--smooth KIND:optimistic``: fitted on validation (None: not asked)
    post: PostProcessor  # ``--smooth``: fixed, or fitted on the members' training tracks
    cal: Calibration | None  # the combination's temperature (fitted there too), before ``post``
    post_info: dict[str, Any] | None
    Q: list[np.ndarray]  # per validation track, post-processed probabilities
    pred: list[np.ndarray]  # per validation track, labels (a decoder's path)
    f1: float
    f1_cv: float
    cm: np.ndarray
    ece: tuple[float, float]  # the combination's ECE on validation before and after ``cal``


def _npy(a: np.ndarray) -> bytes:
    b = io.BytesIO()
    np.save(b, a)
    return b.getvalue()


def plot_agreement(P: np.ndarray, names: Sequence[str], path: Path) -> np.ndarray:
    """Fraction of frames on which two members predict the same class."""
    pred = P.argmax(2)
    A = (pred[:, None, :] == pred[None, :, :]).mean(2)
    fig = _figure(figsize=(1.2 + 0.55 * len(names), 1 + 0.5 * len(names)))
    ax = fig.subplots()
    im = ax.imshow(A, vmin=0, vmax=1, cmap="viridis")
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(j, i, f"{A[i, j]:.2f}", ha="center", va="center", fontsize=6,
                    color="black" if A[i, j] > 0.6 else "white")
    ax.set_title("member agreement (same predicted class)")
    atomic_savefig(fig, path)
    return A


def validation_tracks(members: Sequence[Member], labels_dir: str) -> tuple[list[str], dict[str, np.ndarray]]:
    """The validation tracks all members share, and their labels."""
    files = find_annotations(labels_dir)
    vals = [set(RunFolder(m.run).read_tracks()["val"]) for m in members]
    tracks = sorted(set.intersection(*vals))
    if not tracks:
        raise DataError(labels_dir, "the runs share no validation track", "ensemble runs of one split")
    missing = [t for t in tracks if t not in files]
    if missing:
        raise DataError(labels_dir, f"no annotation for validation track(s) {', '.join(missing[:5])}")
    return tracks, {t: read_annotation(files[t].path) for t in tracks}


def own_post(m: Member) -> PostProcessor:
    """A member's own recorded smoothing or decoder (none if it recorded none)."""
    rec = RunFolder(m.run).recorded_smoothing()
    return SmoothSpec() if rec is None else processor_from_dict(rec, f"{m.run}: recorded post-processing")


def combined_ece(comb: Combiner, cal: Calibration | None, P: np.ndarray, frames_of: Sequence[np.ndarray],
                 y: np.ndarray) -> tuple[float, float]:
    if comb.method == "vote":
        return float("nan"), float("nan")
    q = [comb.combine(P[:, f]) for f in frames_of]
    return ece(q, [y[f] for f in frames_of]), ece([cal.calibrate(p) for p in q] if cal else q, [y[f] for f in frames_of])


def score(method: str, P: np.ndarray, tracks: Sequence[str], labels: dict[str, np.ndarray],
          optimistic: OptimisticFit | None, class_bias: bool, cv_folds: int,
          post_for: Callable[[Combiner], tuple[PostProcessor, dict[str, Any] | None, Calibration | None]],
          member_posts: Sequence[PostProcessor] = (), weights: np.ndarray | None = None) -> Scored:
    """Fit ``method`` (and an optimistic post-processing) on all validation tracks (and, if it fits
    anything, cross-validate it); ``post_for`` gives the ``--smooth`` processor of the fitted combination."""
    y = np.concatenate([labels[t] for t in tracks])
    offsets = np.cumsum([0] + [len(labels[t]) for t in tracks])
    frames_of = [np.arange(offsets[i], offsets[i + 1]) for i in range(len(tracks))]

    def fit(idx: Sequence[int]) -> tuple[Combiner, PostProcessor | None]:
        rows = np.concatenate([frames_of[i] for i in idx])
        comb = fit_combiner(method, P[:, rows], y[rows], class_bias, weights)
        opt = None
        if optimistic:
            opt = optimistic([comb.combine(P[:, frames_of[i]]) for i in idx], [labels[tracks[i]] for i in idx])
        return comb, opt

    def apply(comb: Combiner, opt: PostProcessor | None, idx: Sequence[int]) -> list[Decoded]:
        out = [comb.combine(P[:, frames_of[i]]) for i in idx]
        if opt is not None:
            out = [d.probs for d in apply_all(opt, out)]
        return apply_all(post, out, cal)

    comb, opt = fit(range(len(tracks)))
    post, post_info, cal = post_for(comb)
    dec = apply(comb, opt, range(len(tracks)))
    pred = np.concatenate([d.labels for d in dec])
    f1 = macro_f1(y, pred)
    fitted = fits_on_validation(method, class_bias) or optimistic is not None
    f1_cv = cross_validated(lambda tr, te: np.concatenate([d.labels for d in apply(*fit(tr), te)]),
                            tracks, labels, cv_folds, source_video) if fitted else f1
    member_f1 = [macro_f1(y, P[i].argmax(1)) for i in range(len(P))]
    decoded = [macro_f1(y, np.concatenate([d.labels for d in apply_all(pp, [P[i, f] for f in frames_of])]))
               for i, pp in enumerate(member_posts)] or member_f1
    return Scored(member_f1, decoded, comb, opt, post, cal, post_info, [d.probs for d in dec], [d.labels for d in dec], f1,
                  float(f1_cv), confusion(y, pred), combined_ece(comb, cal, P, frames_of, y))


def run_ensemble(runs: Sequence[str | Path], method: str, store: str, labels_dir: str, out: str | Path,
                 test_tracks: Sequence[str] | None = None, class_bias: bool = False, cv_folds: int = 4,
                 device: str = "auto", reporter: Reporter | None = None, select: str = "best",
                 allow_feature_mismatch: bool = False, smooth_spec: str = "default") -> dict[str, Any]:
    """``smooth_spec``: ``default`` (:func:`resolve_smooth`), none, a fixed smoothing or decoder,
    ``KIND:auto`` (fitted on the members' shared training tracks, out of fold where they kept
    them), or ``KIND:optimistic`` (chosen on the validation labels it is scored on, beside a
    cross-validated estimate); see :mod:`exprnet.ensemble.post`. Members are calibrated first."""
    reporter = reporter or NullReporter()
    smooth_spec = resolve_smooth(method, smooth_spec, runs)
    kinds = auto_kinds(smooth_spec)
    spec = kinds[0] if kinds else parse(smooth_spec, optimistic_ok=True)
    if method not in METHODS:
        raise ConfigError(f"--method {method}", f"choose from {', '.join(METHODS)}")
    if select not in SELECTIONS:
        raise ConfigError(f"--select {select}", "choose best or last")
    if not runs:
        raise ConfigError("--runs", "name at least one run folder")
    members = [member_info(r) for r in runs]
    cals = calibrations(members)
    posts = [own_post(m) for m in members]
    val_tracks, labels = validation_tracks(members, labels_dir)
    optimistic = None
    if spec.optimistic:
        optimistic = optimistic_fitter(spec, lambda: shared_training(members, Combiner("mean", np.ones(len(members))),
                                                                     cals, store, select, device, reporter).labels)
        spec = SmoothSpec()
    weights, chosen, training = None, None, None
    if method == "oof":
        training = member_training(members, cals, store, select, device, reporter)
        weights, chosen = fit_oof_weights(training, spec)
        reporter.message(f"weights {np.round(weights, 2).tolist()} ({chosen['chosen_on']})"
                         + "".join(f"; {n}: {why}" for n, why in chosen.get("left_out", {}).items()))
    other = "last" if select == "best" else "best"
    scored: dict[str, Scored] = {}
    P_main = np.zeros(0)
    for sel in (select, other):
        probs = [calibrated(member_probs(m, store, val_tracks, sel, device, reporter, labels_dir, labels,
                                         allow_feature_mismatch), cal) for m, cal in zip(members, cals, strict=True)]
        for t in val_tracks:
            if len(probs[0][t]) != len(labels[t]):
                raise DataError(t, f"{len(probs[0][t])} predicted rows for {len(labels[t])} labels")
        P = stack(probs, val_tracks)
        scored[sel] = score(method, P, val_tracks, labels, optimistic, class_bias, cv_folds,
                            lambda comb, sel=sel: fixed_post(kinds or spec, lambda: training.combined(comb) if training
                                                             else shared_training(members, comb, cals, store, sel,
                                                                                  device, reporter), method != "vote"),
                            posts, weights)
        if sel == select:
            P_main = P
    main = scored[select]
    y = np.concatenate([labels[t] for t in val_tracks])
    fitted = fits_on_validation(method, class_bias) or optimistic is not None

    out = Path(out)
    (out / "probs").mkdir(parents=True, exist_ok=True)
    for t, q in zip(val_tracks, main.Q, strict=True):
        atomic_write_bytes(out / "probs" / f"{t}.npy", _npy(q.astype(np.float32)))
    agreement = plot_agreement(P_main, [m.name for m in members], out / "agreement.png")
    plot_confusion(main.cm, out / "confusion.png", f"ensemble ({method}) on validation, {select} checkpoints")
    weights = main.comb.weights / main.comb.weights.sum()
    rows = [{"member": m.name, "encoder": m.encoder, "features": "+".join(m.features), "weight": float(w),
             "val_f1": float(s), "val_f1_decoded": float(d), "val_f1_other_selection": float(o)}
            for m, w, s, d, o in zip(members, weights, main.member_f1, main.member_f1_decoded,
                                     scored[other].member_f1, strict=True)]
    rows.append({"member": f"ensemble ({method})", "encoder": "", "features": "", "weight": "",
                 "val_f1": float(main.f1), "val_f1_decoded": float(main.f1),
                 "val_f1_other_selection": float(scored[other].f1)})
    atomic_write_csv(out / "members.csv", rows)
    metrics = {
        "kind": "ensemble", "method": method, "select": select, "val_f1": float(main.f1),
        "val_f1_cv": main.f1_cv, "cv_folds": cv_folds, "fit_on_validation": fitted,
        "per_class_f1": dict(zip(CLASSES, map(float, per_class_f1(main.cm)), strict=True)),
        "confusion": main.cm.tolist(),
        "members": [{"run": str(m.run), "name": m.name, "encoder": m.encoder, "features": m.features,
                     "val_f1": float(s), "val_f1_decoded": float(d), "postprocess": pp.to_dict()}
                    for m, s, d, pp in zip(members, main.member_f1, main.member_f1_decoded, posts, strict=True)],
        "weights": [float(v) for v in main.comb.weights], "weights_chosen": chosen,
        "class_bias": None if main.comb.bias is None else main.comb.bias.tolist(),
        "smoothing": None if main.opt is None else {**main.opt.to_dict(), "chosen_on": "validation (optimistic)",
                                                    **({"k": main.opt.width} if isinstance(main.opt, SmoothSpec) else {})},
        "smooth": main.post_info,
        # each member's calibration (applied to its probabilities before they are combined), in member order
        "calibration": [None if c is None else c.to_dict() for c in cals],
        # what the combined probabilities went through, in order (a bundle replays it exactly)
        "postprocess": ([main.opt.to_dict()] if main.opt is not None else [])
        + ([main.cal.to_dict()] if main.cal is not None else [])
        + ([main.post.to_dict()] if main.post.kind != "none" else []),
        # ECE of the combination on validation, before and after its own temperature (only scored)
        "val_ece_before": main.ece[0], "val_ece_after": main.ece[1],
        "best_member_f1": float(max(main.member_f1)),
        "best_member_f1_decoded": float(max(main.member_f1_decoded)), "agreement": agreement.tolist(),
        "val_tracks": len(val_tracks), "val_frames": int((y >= 0).sum()),
        "selection": {sel: {"val_f1": float(s.f1), "val_f1_cv": s.f1_cv, "member_f1": [float(v) for v in s.member_f1],
                            "best_member_f1": float(max(s.member_f1)),
                            "best_member_f1_decoded": float(max(s.member_f1_decoded)),
                            "mean_member_f1": float(np.mean(s.member_f1))} for sel, s in scored.items()},
    }
    if test_tracks:
        metrics["submission_lines"] = write_test(members, cals, main, store, list(test_tracks), select, device,
                                                 reporter, out, allow_feature_mismatch)
    atomic_write_json(out / "metrics.json", metrics)
    return metrics


def write_test(members: Sequence[Member], cals: Sequence[Calibration | None], main: Scored, store: str,
               tracks: list[str], select: str, device: str, reporter: Reporter, out: Path,
               allow_feature_mismatch: bool) -> int:
    """Combine the members' test predictions as fitted on validation; returns submission lines."""
    probs = [calibrated(member_probs(m, store, tracks, select, device, reporter,
                                     allow_feature_mismatch=allow_feature_mismatch), cal)
             for m, cal in zip(members, cals, strict=True)]
    Pt = stack(probs, tracks)
    offs = np.cumsum([0] + [len(probs[0][t]) for t in tracks])
    combined = [main.comb.combine(Pt[:, offs[i]:offs[i + 1]]) for i in range(len(tracks))]
    if main.opt is not None:
        combined = [d.probs for d in apply_all(main.opt, combined)]
    items = []
    for t, d in zip(tracks, apply_all(main.post, combined, main.cal), strict=True):
        atomic_write_bytes(out / "probs" / f"{t}.npy", _npy(d.probs.astype(np.float32)))
        items.append((t, d.labels))
    return write_submission(out / "submission.txt", items)
