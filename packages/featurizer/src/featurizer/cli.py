"""``featurizer``: extract, models, inspect, import, export, demo-data, serve."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from . import extras
from .core import console as say
from .errors import FeaturizerError
from .progress import RichProgress

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  rich_markup_mode=say.markup_mode(),
                  help="Turn videos into per-label-frame feature arrays in a Zarr store.")
console = Console(stderr=True)
out_console = Console()


@app.callback()
def _consoles() -> None:
    """Consoles made per invocation, so they take the width (``COLUMNS``) of this call."""
    global console, out_console
    console, out_console = Console(stderr=True), Console()


def report_error(e: Exception) -> None:
    """One line, verbatim (no wrapping, no markup), on stderr."""
    say.error(console, e)


def _fail(e: Exception) -> None:
    report_error(e)
    raise typer.Exit(2)


@app.command()
def extract(
    videos: Annotated[list[Path], typer.Argument(help="Video or audio files, or folders (searched recursively).")],
    model: Annotated[str, typer.Option("--model", "-m", help="Comma-separated extractor names.")] = "egemaps,compare,fbank,hog",
    out: Annotated[str, typer.Option("--out", "-o", help="Store: a directory or fsspec URL.")] = "features.zarr",
    labels: Annotated[Path | None, typer.Option(help="Aff-Wild2 annotation folder: one row per annotation line.")] = None,
    faces: Annotated[Path | None, typer.Option(help="cropped_aligned/ folder; default: detect faces in the video.")] = None,
    dtype: Annotated[str, typer.Option(help="float16 or float32.")] = "float16",
    overwrite: Annotated[bool, typer.Option(help="Redo arrays that are already complete.")] = False,
    weights: Annotated[list[str] | None, typer.Option(help="NAME=SOURCE: hub id, local folder or state-dict file (repeatable).")] = None,
    device: Annotated[str | None, typer.Option(help="cpu (default), cuda, cuda:N or auto; for the models that run on one.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Override the extractors' batch size.")] = None,
    precision: Annotated[str | None, typer.Option(help="fp32, bf16 or fp16; for the models that take it.")] = None,
    option: Annotated[list[str] | None, typer.Option("--option", help="NAME.KEY=VALUE: a typed option of one selected extractor (repeatable; `featurizer models --json` lists them).")] = None,
    audio_fps: Annotated[float | None, typer.Option(show_default=False, help="Label rows per second of audio-only inputs (wav, m4a ...); default 25.")] = None,
    executor: Annotated[str, typer.Option(help="local, or ray (featurizer[ray]; docs/scale.md).")] = "local",
    address: Annotated[str | None, typer.Option(help="Ray address: auto, ray://host:10001; default a local cluster.")] = None,
    gpus_per_task: Annotated[float, typer.Option(help="GPUs per Ray task (fractions allowed).")] = 0.0,
    workers: Annotated[int | None, typer.Option(help="Ray workers per extractor group (default: the cluster's CPUs).")] = None,
) -> None:
    """Extract features of every track of VIDEOS into the store (re-runs skip complete arrays).

    Inputs are checked before any model loads: bad ones are reported at once, the rest extracted.
    """
    try:
        extras.require("extract", "featurizer extract")
        if executor not in ("local", "ray"):
            raise FeaturizerError(f"--executor {executor}", "unknown executor", "choose local or ray")
        if executor == "ray":
            extras.require("ray", "featurizer extract --executor ray")
        from .job import ExtractJob, parse_options, parse_weights
        from .pipeline import run_job
        from .runtime import Runtime

        runtime = Runtime(parse_weights(weights), device, batch_size, precision, parse_options(option))
        job = ExtractJob.of(videos, model, out, labels=labels, faces=faces, dtype=dtype, overwrite=overwrite,
                            runtime=runtime, **({"audio_fps": audio_fps} if audio_fps is not None else {}))
        with RichProgress(console) as prog:
            report = run_job(job, _executor(executor, address, gpus_per_task, workers), prog)
    except FeaturizerError as e:
        _fail(e)
    print_summary(report, out)
    if not report.ok:
        raise typer.Exit(1)


def _executor(kind: str, address: str | None, gpus_per_task: float, workers: int | None) -> Any:
    """The executor object a run is handed: this process, or a Ray cluster."""
    if kind == "ray":
        from .ray_executor import RayExecutor, RayOptions

        return RayExecutor(RayOptions(address=address, gpus_per_task=gpus_per_task, workers_per_group=workers))
    from .executors import LocalExecutor

    return LocalExecutor()


def print_summary(report: Any, out: str) -> None:
    """The table of tracks (when any was planned), the counts, then every failure and problem."""
    if report.results:
        t = Table(title=f"featurizer extract -> {out}", show_lines=False)
        for c in ("track", "video", "frames", "status", "models", "s"):
            t.add_column(c, justify="right" if c in ("frames", "s") else "left")
        for r in report.results:
            colour = {"done": "green", "skipped": "dim", "failed": "red"}[r.status]
            t.add_row(r.track, Path(r.video).name, str(r.frames or ""), f"[{colour}]{r.status}[/]",
                      ",".join(r.models), f"{r.seconds:.1f}")
        out_console.print(t)
    done = [r for r in report.results if r.status == "done"]
    frames = sum(r.frames for r in done)
    say.message(out_console,
        f"{len(done)} track(s) extracted, {sum(r.status == 'skipped' for r in report.results)} already complete, "
        f"{len(report.failed)} failed, {len(report.problems)} input problem(s); "
        f"{frames} frames in {report.seconds:.1f} s")
    for r in report.failed:
        say.line(out_console, "failed", f"{r.track}: {r.error}")
    for k, v in report.problems.items():
        say.line(out_console, "problem", f"{k}: {v}")


@app.command()
def faces(
    videos: Annotated[list[Path], typer.Argument(help="Video files or folders (searched recursively).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for <track>/00001.jpg crops and <track>.csv.")],
    detector: Annotated[str, typer.Option(help="retinaface (default), mtcnn, or haar (no landmarks).")] = "retinaface",
    threshold: Annotated[float | None, typer.Option(show_default=False, help="Lowest detection score kept (default: retinaface 0.8, mtcnn 0.9).")] = None,
    max_gap: Annotated[int, typer.Option(help="Frames a face may go undetected and keep its track.")] = 10,
    device: Annotated[str | None, typer.Option(help="cpu (default), cuda, cuda:N or auto.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Redo videos already written to --out.")] = False,
) -> None:
    """Detect, align (112x112, ArcFace template) and track faces into the Aff-Wild2 layout."""
    try:
        extras.require("extract", "featurizer faces")
    except FeaturizerError as e:
        _fail(e)
    from .faces.track import TrackRule
    from .faces.write import summary, write_faces

    try:
        with RichProgress(console) as prog:
            report = write_faces(videos, out, detector, overwrite, TrackRule(max_gap=max_gap), device,
                                 threshold, prog)
    except FeaturizerError as e:
        _fail(e)
    table, line = summary(report, out)
    out_console.print(table)
    say.message(out_console, line)
    for r in report.results:
        if r.status == "failed":
            say.line(out_console, "failed", r.error)
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def models(as_json: Annotated[bool, typer.Option("--json", help="One object per extractor (keys in docs/extractors.md).")] = False) -> None:
    """List the registered extractors: what their default weights were trained on, their licence,
    whether they stand in for the paper's, and whether they are on this machine (no network)."""
    from rich.markup import escape

    from .registry import list_models

    rows = [s.row() for s in list_models()]
    if as_json:
        out_console.print_json(json.dumps(rows))
        return
    t = Table(title="featurizer extractors")
    for c in ("name", "modality", "dim", "trained on", "default weights", "here", "licence"):
        t.add_column(c)
    for r in rows:
        trained = r["trained_on"] or "(no weights)"
        if r["standin"]:
            trained += " [yellow](stand-in)[/]"
        here = {True: "[green]yes[/]", False: "[red]no[/]", None: "-"}[r["weights_present"]]
        t.add_row(r["name"], r["modality"], str(r["dim"]), trained, escape(r["weights"]), here,
                  escape(r["licence"]))
    out_console.print(t)
    say.message(out_console, f"{len(rows)} extractors; stand-ins run public weights in place of the "
                             "paper's unpublished ones (docs/extractors.md); 'here': default weights "
                             "on this machine (local, hub or torch cache)")


@app.command()
def inspect(store: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Tracks, extractors, dims and coverage of a store."""
    from .core.store import FeatureStore
    from .transfer import inspect_store

    try:
        info = inspect_store(FeatureStore(store, mode="r"))
    except FeaturizerError as e:
        _fail(e)
    if as_json:
        out_console.print_json(json.dumps(info))
        return
    t = Table(title=f"{store}: {info['n_tracks']} tracks, {info['n_frames']} frames")
    for c in ("model", "modality", "dim", "dtype", "tracks", "frames", "present"):
        t.add_column(c)
    for m, s in sorted(info["models"].items()):
        cov = s["present"] / s["frames"] if s["frames"] else 0
        t.add_row(m, str(s["modality"]), str(s["dim"]), str(s["dtype"]), f"{s['tracks']}/{info['n_tracks']}",
                  str(s["frames"]), f"{cov:.1%}")
    out_console.print(t)


@app.command("import")
def import_(
    src: Annotated[Path, typer.Argument(help="Folder of <track>.npy, or HDF5 file(s) keyed <track>/00001.")],
    store: Annotated[str, typer.Option(help="Store to write into.")],
    name: Annotated[str, typer.Option(help="Feature name in the store.")],
    fps: Annotated[float, typer.Option(help="Frame rate for tracks new to the store.")] = 30.0,
    overwrite: bool = False,
) -> None:
    """Import features made elsewhere into the store layout."""
    from .core.store import FeatureStore
    from .transfer import import_features

    try:
        rep = import_features(FeatureStore(store), name, src, fps, overwrite)
    except FeaturizerError as e:
        _fail(e)
    say.message(out_console, f"imported {name!r} for {len(rep.imported)} track(s) into {store}")
    for k, v in rep.problems.items():
        say.line(out_console, "problem", f"{k}: {v}")
    if rep.problems:
        raise typer.Exit(1)


@app.command()
def export(
    store: Annotated[str, typer.Option(help="Store to read.")],
    track: Annotated[str, typer.Option(help="Track id.")],
    model: Annotated[str, typer.Option(help="Feature name.")],
    out: Annotated[Path, typer.Option(help="Output .npy (the mask goes to <out>.present.npy).")],
) -> None:
    """Write one feature array (and its present mask) as .npy."""
    from .core.store import FeatureStore
    from .transfer import export_feature

    try:
        a, b = export_feature(FeatureStore(store, mode="r"), track, model, out)
    except FeaturizerError as e:
        _fail(e)
    say.message(out_console, f"wrote {a} and {b}")


@app.command("demo-data")
def demo_data(
    out: Path,
    videos: Annotated[int, typer.Option(help="Number of videos.")] = 8,
    seconds: Annotated[float, typer.Option(help="Length of each video.")] = 20.0,
    seed: int = 0,
) -> None:
    """Write a small corpus in the Aff-Wild2 layout (videos, annotations, cropped_aligned)."""
    from .demo import make_demo

    with console.status(f"writing demo corpus to {out}"):
        tracks = make_demo(out, videos, seconds, seed)
    say.message(out_console, f"demo corpus: {len(tracks)} tracks from {videos} videos of {seconds:g} s in {out} "
                      f"(videos/, annotations/Train_Set|Validation_Set/, cropped_aligned/)")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
    models: Annotated[str | None, typer.Option(show_default=False, help="Models loaded at start-up and used when a request names none (default: egemaps,compare,fbank,hog; env FEATURIZER_MODELS).")] = None,
    max_upload_mb: Annotated[float | None, typer.Option(show_default=False, help="Largest upload in MiB; 413 past it (default: 200; env FEATURIZER_MAX_UPLOAD_MB).")] = None,
    max_concurrency: Annotated[int | None, typer.Option(show_default=False, help="Requests computed at once per worker; also its thread pool size (default: CPU count; env FEATURIZER_MAX_CONCURRENCY).")] = None,
    max_queue: Annotated[int | None, typer.Option(show_default=False, help="Requests that may wait for a slot; more get 503 (default: 64; env FEATURIZER_MAX_QUEUE).")] = None,
    queue_timeout: Annotated[float | None, typer.Option(show_default=False, help="Seconds a request may wait for a slot, then 503 + Retry-After (default: 60; env FEATURIZER_QUEUE_TIMEOUT).")] = None,
    api_key: Annotated[str | None, typer.Option(show_default=False, help="Require this key on every route but /healthz: X-API-Key or Authorization: Bearer (env FEATURIZER_API_KEY).")] = None,
    public_docs: Annotated[bool | None, typer.Option("--public-docs/--no-public-docs", show_default=False, help="Serve /docs and /openapi.json without the API key (default: no; env FEATURIZER_PUBLIC_DOCS).")] = None,
    weights: Annotated[list[str] | None, typer.Option(help="NAME=SOURCE: hub id, local folder or state-dict file (repeatable) (env FEATURIZER_WEIGHTS=a=src,b=src).")] = None,
    device: Annotated[str | None, typer.Option(show_default=False, help="cpu, cuda or auto (default: cpu; env FEATURIZER_DEVICE).")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Override the extractors' batch size (env FEATURIZER_BATCH_SIZE).")] = None,
    precision: Annotated[str | None, typer.Option(show_default=False, help="fp32, bf16 or fp16, for the models that take it (env FEATURIZER_PRECISION).")] = None,
    option: Annotated[list[str] | None, typer.Option("--option", help="NAME.KEY=VALUE: a typed extractor option (repeatable) (env FEATURIZER_OPTIONS=a.k=v,b.k=v).")] = None,
    temp_dir: Annotated[Path | None, typer.Option(help="Where uploads are spooled (default: the system temp dir; env FEATURIZER_TEMP_DIR).")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes (each loads its own models).")] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Serve features over HTTP (FastAPI under uvicorn); the API is in docs/http.md.

    Options not given come from FEATURIZER_* environment variables, then the defaults.
    """
    import os

    try:
        extras.require("serve", "featurizer serve")
    except FeaturizerError as e:
        _fail(e)
    import uvicorn

    from .job import parse_options, parse_weights
    from .registry import parse_model_list
    from .service import Settings, create_app

    try:
        settings = Settings.from_env(
            models=parse_model_list(models) if models is not None else None,
            weights=parse_weights(weights) or None, device=device, batch_size=batch_size,
            precision=precision, options=parse_options(option) or None,
            max_upload_mb=max_upload_mb, max_concurrency=max_concurrency, max_queue=max_queue,
            queue_timeout=queue_timeout, api_key=api_key, public_docs=public_docs, temp_dir=temp_dir)
        parse_model_list(settings.models)
        settings.runtime().check(None)
    except FeaturizerError as e:
        _fail(e)
    except ValueError as e:  # pydantic: a bad option value
        errs = getattr(e, "errors", lambda: [])()
        _fail(FeaturizerError("featurizer serve", "; ".join(
            f"--{'-'.join(str(x) for x in er['loc']).replace('_', '-')}: {er['msg']}" for er in errs) or str(e)))
    if not settings.api_key and host not in ("127.0.0.1", "localhost", "::1"):
        say.warning(console, f"serving on {host} without an API key (--api-key or FEATURIZER_API_KEY)")
    if workers > 1:  # worker processes rebuild the settings from the environment
        os.environ.update(settings.to_env())
        uvicorn.run("featurizer.service:app_from_env", factory=True, host=host, port=port,
                    workers=workers, log_level=log_level)
    else:
        service = create_app(settings)
        try:  # load the default models now: a missing weight is one clear line, not a traceback
            with console.status(f"loading {', '.join(settings.models)}"):
                for name in settings.models:
                    service.state.cache.get(name)
        except FeaturizerError as e:
            _fail(e)
        uvicorn.run(service, host=host, port=port, log_level=log_level)


def main() -> None:
    try:
        app()
    except FeaturizerError as e:  # errors are reported once, here
        report_error(e)
        sys.exit(2)


if __name__ == "__main__":
    main()
