"""``exprnet ensemble``: combine runs on the validation split, estimate honestly, write outputs.

    OUT/metrics.json        val_f1 (fit and scored on validation), val_f1_cv (cross-validated over
                            validation tracks, by source video), per_class_f1, members, weights, ...
    OUT/members.csv         per-member and ensemble F1 (the paper's Table 3 shape)
    OUT/probs/<track>.npy   ensemble probabilities on the validation tracks
    OUT/submission.txt      for --tracks (test), if given
    OUT/confusion.png, OUT/agreement.png
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from featurizer.core.annotations import find_annotations, read_annotation, source_video

from .baseline import is_baseline
from .config import CLASSES
from .ensemble import METHODS, Combiner, cross_validated, fit_combiner, fits_on_validation, stack
from .errors import ConfigError, DataError
from .io import atomic_write_bytes, atomic_write_csv, atomic_write_json
from .metrics import confusion, macro_f1, per_class_f1
from .plots import plot_confusion
from .predict import predict, write_submission
from .progress import NullReporter, Reporter
from .runfolder import RunFolder
from .smoothing import SmoothSpec, choose_k, parse_spec, smooth


@dataclass
class Member:
    run: Path
    name: str
    encoder: str
    features: list[str]


def member_info(run: str | Path) -> Member:
    r = RunFolder(run)
    if not (r.best.exists() or is_baseline(run)):
        raise ConfigError(str(run), "is not a finished run folder (no checkpoints/best.pt)")
    cfg = r.read_config()
    return Member(Path(run), Path(run).name, cfg.model_name, list(cfg.data.features))


def member_probs(m: Member, store: str, tracks: Sequence[str], split: str, device: str,
                 reporter: Reporter) -> dict[str, np.ndarray]:
    """Unsmoothed per-frame probabilities of a run on ``tracks``, cached in RUN/predictions/<split>/
    (the combination is smoothed, if asked, by ``--smoothing`` or ``--smooth``)."""
    cache = m.run / "predictions" / split
    files = {t: cache / "probs" / f"{t}.npy" for t in tracks}
    if not all(f.exists() for f in files.values()):
        reporter.message(f"{m.name}: predicting {len(tracks)} {split} tracks")
        predict(m.run, store, list(tracks), cache, "best", None, device, reporter, smooth="none")
    return {t: np.load(f) for t, f in files.items()}


def _npy(a: np.ndarray) -> bytes:
    b = io.BytesIO()
    np.save(b, a)
    return b.getvalue()


def plot_agreement(P: np.ndarray, names: Sequence[str], path: Path) -> np.ndarray:
    """Fraction of frames on which two members predict the same class."""
    from .io import atomic_savefig
    from .plots import _figure

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


def fixed_smoothing(spec: SmoothSpec, comb: Combiner, members: Sequence[Member], store: str, device: str,
                    reporter: Reporter) -> tuple[SmoothSpec, dict[str, Any] | None]:
    """``--smooth``: a fixed width as given; ``auto``: the best width for the combined
    probabilities on the training tracks all members share (their labels from each run's config)."""
    if spec.kind == "none":
        return spec, None
    if not spec.auto:
        return spec, {"kind": spec.kind, "width": spec.width, "chosen_on": "fixed"}
    train = sorted(set.intersection(*[set(RunFolder(m.run).read_tracks()["train"]) for m in members]))
    if not train:
        raise DataError("--smooth auto", "the runs share no training track", "give a width, e.g. --smooth box:12")
    cfg = RunFolder(members[0].run).read_config()
    files = find_annotations(str(cfg.data.labels), (cfg.data.train_split, cfg.data.val_split))
    labels = [read_annotation(files[t].path) for t in train]
    probs = [member_probs(m, store, train, "train", device, reporter) for m in members]
    Pt = stack(probs, train)
    offs = np.cumsum([0] + [len(a) for a in labels])
    combined = [comb.combine(Pt[:, offs[i]:offs[i + 1]]) for i in range(len(train))]
    k, scores = choose_k(combined, labels, spec.kind)
    return SmoothSpec(spec.kind, k), {"kind": spec.kind, "width": k, "chosen_on": "training tracks",
                                      "train_f1_by_width": {str(w): v for w, v in scores.items()}}


def run_ensemble(runs: Sequence[str | Path], method: str, store: str, labels_dir: str, out: str | Path,
                 test_tracks: Sequence[str] | None = None, smoothing: str | None = None,
                 class_bias: bool = False, cv_folds: int = 4, device: str = "auto",
                 reporter: Reporter | None = None, smooth_spec: str = "none") -> dict[str, Any]:
    """``smoothing``: width chosen on validation (cross-validated estimate); ``smooth_spec``: a fixed
    width, or ``auto`` chosen on the members' shared training tracks (see exprnet.run_smoothing)."""
    reporter = reporter or NullReporter()
    post = parse_spec(smooth_spec)
    if post.kind != "none" and smoothing:
        raise ConfigError("--smooth / --smoothing", "give one of them",
                          "--smooth picks the width on training tracks, --smoothing on validation")
    if method not in METHODS:
        raise ConfigError(f"--method {method}", f"choose from {', '.join(METHODS)}")
    if not runs:
        raise ConfigError("--runs", "name at least one run folder")
    members = [member_info(r) for r in runs]
    files = find_annotations(labels_dir)
    vals = [set(RunFolder(m.run).read_tracks()["val"]) for m in members]
    val_tracks = sorted(set.intersection(*vals))
    if not val_tracks:
        raise DataError(labels_dir, "the runs share no validation track", "ensemble runs of one split")
    missing = [t for t in val_tracks if t not in files]
    if missing:
        raise DataError(labels_dir, f"no annotation for validation track(s) {', '.join(missing[:5])}")
    labels = {t: read_annotation(files[t].path) for t in val_tracks}
    probs = [member_probs(m, store, val_tracks, "val", device, reporter) for m in members]
    for t in val_tracks:
        if len(probs[0][t]) != len(labels[t]):
            raise DataError(t, f"{len(probs[0][t])} predicted rows for {len(labels[t])} labels")
    P = stack(probs, val_tracks)
    y = np.concatenate([labels[t] for t in val_tracks])
    member_f1 = [macro_f1(y, P[i].argmax(1)) for i in range(len(members))]

    offsets = np.cumsum([0] + [len(labels[t]) for t in val_tracks])
    frames_of = [np.arange(offsets[i], offsets[i + 1]) for i in range(len(val_tracks))]

    def fit(idx: Sequence[int]) -> tuple[Combiner, int]:
        rows = np.concatenate([frames_of[i] for i in idx])
        comb = fit_combiner(method, P[:, rows], y[rows], class_bias)
        k = 0
        if smoothing:
            per = [comb.combine(P[:, frames_of[i]]) for i in idx]
            k, _ = choose_k(per, [labels[val_tracks[i]] for i in idx], smoothing)
        return comb, k

    def apply(comb: Combiner, k: int, idx: Sequence[int]) -> list[np.ndarray]:
        out = [comb.combine(P[:, frames_of[i]]) for i in idx]
        out = [smooth(q, k, smoothing) if smoothing else q for q in out]
        return [smooth(q, post.width or 0, post.kind) for q in out]

    comb, k = fit(range(len(val_tracks)))
    post, post_info = fixed_smoothing(post, comb, members, store, device, reporter)
    Q = apply(comb, k, range(len(val_tracks)))
    pred = np.concatenate(Q).argmax(1)
    f1 = macro_f1(y, pred)
    cm = confusion(y, pred)
    fitted = fits_on_validation(method, class_bias) or bool(smoothing)
    f1_cv = cross_validated(lambda tr, te: np.concatenate(apply(*fit(tr), te)).argmax(1),
                            val_tracks, labels, cv_folds, source_video) if fitted else f1

    out = Path(out)
    (out / "probs").mkdir(parents=True, exist_ok=True)
    for t, q in zip(val_tracks, Q, strict=True):
        atomic_write_bytes(out / "probs" / f"{t}.npy", _npy(q.astype(np.float32)))
    names = [m.name for m in members]
    agreement = plot_agreement(P, names, out / "agreement.png")
    plot_confusion(cm, out / "confusion.png", f"ensemble ({method}) on validation")
    rows = [{"member": m.name, "encoder": m.encoder, "features": "+".join(m.features),
             "weight": float(w), "val_f1": float(s)}
            for m, w, s in zip(members, comb.weights / comb.weights.sum(), member_f1, strict=True)]
    rows.append({"member": f"ensemble ({method})", "encoder": "", "features": "", "weight": "",
                 "val_f1": float(f1)})
    atomic_write_csv(out / "members.csv", rows)
    metrics = {
        "kind": "ensemble", "method": method, "val_f1": float(f1), "val_f1_cv": float(f1_cv),
        "cv_folds": cv_folds, "fit_on_validation": fitted,
        "per_class_f1": dict(zip(CLASSES, map(float, per_class_f1(cm)), strict=True)), "confusion": cm.tolist(),
        "members": [{"run": str(m.run), "name": m.name, "encoder": m.encoder, "features": m.features,
                     "val_f1": float(s)} for m, s in zip(members, member_f1, strict=True)],
        "weights": [float(v) for v in comb.weights], "class_bias": None if comb.bias is None else comb.bias.tolist(),
        "smoothing": {"kind": smoothing, "k": int(k)} if smoothing else None, "smooth": post_info,
        "best_member_f1": float(max(member_f1)), "agreement": agreement.tolist(),
        "val_tracks": len(val_tracks), "val_frames": int((y >= 0).sum()),
    }
    if test_tracks:
        tprobs = [member_probs(m, store, test_tracks, "test", device, reporter) for m in members]
        Pt = stack(tprobs, list(test_tracks))
        offs = np.cumsum([0] + [len(tprobs[0][t]) for t in test_tracks])
        items = []
        for i, t in enumerate(test_tracks):
            q = comb.combine(Pt[:, offs[i]:offs[i + 1]])
            q = smooth(q, k, smoothing) if smoothing else q
            q = smooth(q, post.width or 0, post.kind)
            atomic_write_bytes(out / "probs" / f"{t}.npy", _npy(q.astype(np.float32)))
            items.append((t, q.argmax(1)))
        metrics["submission_lines"] = write_submission(out / "submission.txt", items)
    atomic_write_json(out / "metrics.json", metrics)
    return metrics
