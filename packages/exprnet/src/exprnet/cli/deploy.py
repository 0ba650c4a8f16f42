"""Commands that deliver a trained ensemble: ``bundle``, ``infer``, ``serve``."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from featurizer.core import console as say
from rich.table import Table

from ..errors import ConfigError
from ..reports.progress import RichReporter
from .common import AllowMismatch, app, io, user_errors

BundleOpt = Annotated[str, typer.Option("--bundle", help="Bundle folder (`exprnet bundle`).")]
WeightsOpt = Annotated[list[str] | None, typer.Option(
    "--weights", help="NAME=PATH of a model's weights, as for `featurizer extract` (repeatable); a file whose "
                      "sha256 differs from the bundle's recipe is refused.")]
DetectorOpt = Annotated[str | None, typer.Option(help="Face detector (default: the recipe's, else retinaface).")]
DetectEveryOpt = Annotated[str | None, typer.Option(
    metavar="N", show_default=False,
    help="Run the face detector every N frames (and where a face is lost), following faces by optical flow in "
         "between; 1 detects every frame (default: the recipe's, else 10).")]


def _require_extraction(command: str) -> None:
    """The extraction stack (``exprnet[infer]``: featurizer's extract, models and serve extras)."""
    from featurizer import extras

    for part in ("extract", "serve") if command == "exprnet serve" else ("extract",):
        gone = extras.missing(part)
        if gone:
            raise ConfigError(command, f"needs featurizer's extraction stack (not installed: {', '.join(gone)})",
                              "pip install 'exprnet[infer]'")


@app.command()
def bundle(
    folders: Annotated[list[str] | None, typer.Argument(help="Run folders (members).", show_default=False)] = None,
    method: Annotated[str, typer.Option(help="vote, mean, weighted or greedy.")] = "vote",
    store: Annotated[str, typer.Option(help="Feature store the runs were trained on.")] = "",
    labels: Annotated[str, typer.Option(help="Annotation folder (the runs' validation tracks are scored).")] = "",
    out_dir: Annotated[str, typer.Option("--out", help="Bundle folder to write.")] = "",
    smooth: Annotated[str, typer.Option(help="Post-processing of the combined probabilities, as for "
                                             "`exprnet ensemble --smooth` (e.g. box:auto).")] = "none",
    select: Annotated[str, typer.Option(help="Each member's checkpoint: best or last.")] = "best",
    class_bias: Annotated[bool, typer.Option(help="Fit per-class biases on validation.")] = False,
    detector: DetectorOpt = None,
    device: Annotated[str, typer.Option(help="cpu, cuda or auto")] = "auto",
    overwrite: Annotated[bool, typer.Option(help="Replace an existing bundle folder.")] = False,
    allow_feature_mismatch: AllowMismatch = False,
) -> None:
    """Fit the ensemble of RUNS on their validation split and write it as a self-contained bundle."""
    from ..deploy.make import make_bundle

    with user_errors():
        for flag, v in (("--store", store), ("--labels", labels), ("--out", out_dir)):
            if not v:
                raise ConfigError(flag, "required")
        if not folders:
            raise ConfigError("RUN...", "name at least one run folder")
        path = make_bundle(folders, method, store, labels, out_dir, smooth, select, class_bias, device=device,
                           reporter=RichReporter(io.err), detector=detector, overwrite=overwrite,
                           allow_feature_mismatch=allow_feature_mismatch)
        bundle_summary(path)


def bundle_summary(path: Path) -> None:
    from ..deploy.bundle import Bundle

    b = Bundle.load(path)
    v = b.manifest.get("validation", {})
    say.message(io.out, f"bundle {b.id}: {len(b.members)} member(s), {b.combiner.method}, features "
                        f"{', '.join(b.recipe.models)}; validation F1 {v.get('val_f1', float('nan')):.4f} -> {path}")
    say.message(io.out, f"model card: {Path(path) / 'MODEL_CARD.md'}")


@app.command()
def infer(
    inputs: Annotated[list[str], typer.Argument(help="Videos, or folders searched for them.", show_default=False)],
    bundle_dir: BundleOpt,
    out_dir: Annotated[str, typer.Option("--out", help="Output folder (per track CSV and PNG, submission.txt; "
                                                       "features.zarr holds the extracted features).")],
    weights: WeightsOpt = None,
    device: Annotated[str, typer.Option(help="cpu, cuda or auto (extractors and members).")] = "cpu",
    detector: DetectorOpt = None,
    detect_every: DetectEveryOpt = None,
    batch_size: Annotated[int | None, typer.Option(help="Extractors' batch size.")] = None,
    overlay: Annotated[bool, typer.Option(help="Also write <track>.mp4 with the face box and expression.")] = False,
    faces: Annotated[str | None, typer.Option(help="Read the face crops from this cropped_aligned folder "
                                                   "(<video stem>/00001.jpg ...) instead of detecting them.")] = None,
    labels: Annotated[str | None, typer.Option(help="Annotation folder: score the tracks that have a file there "
                                                    "(per-class F1, written to scores.json).")] = None,
) -> None:
    """Per-frame expressions of new videos: faces detected and tracked, the bundle's features
    extracted, its members, combination and post-processing applied."""
    from featurizer.job import parse_weights
    from featurizer.progress import RichProgress

    from ..deploy.bundle import Bundle
    from ..deploy.infer import Inferencer
    from ..deploy.outputs import write_submission_of, write_track

    with user_errors():
        _require_extraction("exprnet infer")
        from featurizer.faces import check_detect_every

        every = None if detect_every is None else check_detect_every(detect_every)
        b = Bundle.load(bundle_dir, device=device)
        inf = Inferencer(b, parse_weights(weights), device, detector, batch_size, faces_dir=faces, detect_every=every)
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        with io.err.status(f"loading {', '.join(b.recipe.models)} and {len(b.members)} member(s)"):
            inf.load()
        results, preds = [], []
        with RichProgress(io.err) as progress:
            for res in inf.videos(inputs, str(out / "features.zarr"), progress):
                if res.ok:
                    for p in res.tracks:
                        write_track(p, out, overlay)
                    preds += res.tracks
                else:
                    say.line(io.err, "failed", res.error)
                results.append(res)
        if preds:
            write_submission_of(preds, out)
        _infer_table(results)
        if labels and preds:
            _score(preds, labels, out)
        for p in preds[:5]:
            say.message(io.out, f"{p.track}: {out / (p.track + '.csv')} (per frame), {out / (p.track + '.png')} "
                                f"(timeline)")
        failed = [r for r in results if not r.ok]
        say.message(io.out, f"{len(results) - len(failed)} of {len(results)} video(s), {len(preds)} track(s) -> "
                            f"{out} (<track>.csv, <track>.png{', <track>.mp4' if overlay else ''}, submission.txt)")
        if failed:
            raise typer.Exit(1)


def _score(preds: list, labels: str, out: Path) -> None:
    """Per-class F1 of the tracks that have an annotation file under ``labels`` (frames as the
    file's lines; -1 lines skipped), per track and over all of them."""
    from featurizer.core.annotations import find_annotations, read_annotation
    from featurizer.core.files import atomic_write_json

    from ..config import CLASSES
    from ..reports.metrics import confusion, per_class_f1

    files = find_annotations(labels)
    total, per_track = None, {}
    for p in preds:
        if p.track not in files:
            continue
        y = read_annotation(files[p.track].path)
        n = min(len(y), len(p.labels))
        if len(y) != len(p.labels):
            say.warning(io.err, f"{files[p.track].path}: {len(y)} lines for {len(p.labels)} video frames; "
                                f"scored on the first {n}")
        cm = confusion(y[:n], p.labels[:n])
        per_track[p.track] = float(per_class_f1(cm).mean())
        total = cm if total is None else total + cm
    if total is None:
        say.warning(io.err, f"{labels}: no annotation file for any of the {len(preds)} track(s); nothing scored")
        return
    pc = per_class_f1(total)
    seen = total.sum(1) > 0  # a class not annotated scores 0 in the mean of 8 (whatever is predicted)
    atomic_write_json(out / "scores.json", {"f1": float(pc.mean()), "f1_annotated_classes": float(pc[seen].mean()),
                                            "per_class_f1": dict(zip(CLASSES, pc.tolist(), strict=True)),
                                            "tracks": per_track, "labelled_frames": int(total.sum())})
    say.message(io.out, f"F1 on {len(per_track)} labelled track(s), {int(total.sum())} frames: {pc.mean():.4f} "
                        f"(mean of the 8 per-class F1, the ABAW metric), {pc[seen].mean():.4f} over the "
                        f"{int(seen.sum())} annotated classes -> {out / 'scores.json'}")


def _infer_table(results: list) -> None:
    t = Table(title="exprnet infer")
    for c in ("track", "video", "frames", "face", "most frequent", "status", "s"):
        t.add_column(c, justify="right" if c in ("frames", "face", "s") else "left", overflow="fold")
    for r in results:
        name = Path(r.video).name
        if not r.ok:
            t.add_row("-", name, "", "", "", "[red]failed[/]", f"{r.seconds:.1f}")
        for p in r.tracks:
            top, n = Counter(p.expression).most_common(1)[0]
            face = "-" if p.face is None else f"{100 * p.face.mean():.0f}%"
            t.add_row(p.track, name, str(len(p.frames)), face, f"{top} ({100 * n / len(p.frames):.0f}%)", "done",
                      f"{r.seconds:.1f}")
    io.out.print(t)


@app.command()
def serve(
    bundle_dir: BundleOpt,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
    weights: WeightsOpt = None,
    device: Annotated[str, typer.Option(help="cpu, cuda or auto")] = "cpu",
    api_key: Annotated[str | None, typer.Option(show_default=False, help="Require this key on every route but "
                                                                        "/healthz (env FEATURIZER_API_KEY).")] = None,
    max_upload_mb: Annotated[float | None, typer.Option(show_default=False, help="Largest upload in MiB "
                                                                               "(default 200).")] = None,
    max_concurrency: Annotated[int | None, typer.Option(show_default=False, help="Requests computed at once.")] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Serve the bundle over HTTP: POST /v1/expressions beside featurizer's /v1/features (docs/infer.md)."""
    from featurizer.job import parse_weights

    from ..deploy.serve import create_expressions_app

    with user_errors():
        _require_extraction("exprnet serve")
        import uvicorn

        app_ = create_expressions_app(bundle_dir, parse_weights(weights), device, api_key=api_key,
                                      max_upload_mb=max_upload_mb, max_concurrency=max_concurrency)
        if not api_key and host not in ("127.0.0.1", "localhost", "::1"):
            say.warning(io.err, f"serving on {host} without an API key (--api-key)")
        uvicorn.run(app_, host=host, port=port, log_level=log_level)
