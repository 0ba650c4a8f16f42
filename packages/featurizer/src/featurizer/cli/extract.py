"""``featurizer extract``: videos in, one row per label frame out, through the one job function."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from .. import extras
from ..core import console as say
from ..errors import FeaturizerError
from ..models.registry import OFFLINE_MODELS
from ..progress import RichProgress
from .common import DetectEvery, app, fail, io


@app.command()
def extract(
    videos: Annotated[list[Path], typer.Argument(help="Video or audio files, or folders (searched recursively).")],
    model: Annotated[str, typer.Option("--model", "-m", help="Comma-separated extractor names (default: those that run offline).")] = ",".join(OFFLINE_MODELS),
    out: Annotated[str, typer.Option("--out", "-o", help="Store: a directory or fsspec URL.")] = "features.zarr",
    labels: Annotated[Path | None, typer.Option(help="Aff-Wild2 annotation folder: one row per annotation line.")] = None,
    faces: Annotated[Path | None, typer.Option(help="cropped_aligned/ folder; default: detect faces in the video.")] = None,
    detector: Annotated[str, typer.Option(help="Face detector without --faces: retinaface, mtcnn, or haar (no landmarks).")] = "retinaface",
    detect_every: DetectEvery = None,
    dtype: Annotated[str, typer.Option(help="float16 or float32.")] = "float16",
    overwrite: Annotated[bool, typer.Option(help="Redo arrays that are already complete.")] = False,
    weights: Annotated[list[str] | None, typer.Option(help="NAME=SOURCE: hub id, local folder or state-dict file (repeatable).")] = None,
    device: Annotated[str | None, typer.Option(help="cpu (default), cuda, cuda:N or auto; for the models that run on one.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Override the extractors' batch size.")] = None,
    precision: Annotated[str | None, typer.Option(show_default=False, help="auto (default: bf16 where the device computes it natively, else fp32), fp32, bf16 or fp16; for the models that take it.")] = None,
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
        from ..extraction.executors import make_executor
        from ..extraction.job import ExtractJob, parse_options, parse_weights
        from ..extraction.pipeline import run_job
        from ..models.runtime import Runtime

        runner = make_executor(executor, address=address, gpus_per_task=gpus_per_task, workers=workers)
        runtime = Runtime(parse_weights(weights), device, batch_size, precision, parse_options(option))
        more: dict[str, Any] = {} if audio_fps is None else {"audio_fps": audio_fps}
        if detect_every is not None:
            from ..faces.tracker import check_detect_every

            more["detect_every"] = check_detect_every(detect_every)
        job = ExtractJob.of(videos, model, out, labels=labels, faces=faces, detector=detector, dtype=dtype, overwrite=overwrite,
                            runtime=runtime, **more)
        with RichProgress(io.err) as prog:
            report = run_job(job, runner, prog)
    except FeaturizerError as e:
        fail(e)
    print_summary(report, out)
    if not report.ok:
        raise typer.Exit(1)


def print_summary(report: Any, out: str) -> None:
    """The table of tracks (when any was planned), the counts, then the arrays another writer of
    the store wrote meanwhile, every failure and problem."""
    if report.results:
        t = Table(title=f"featurizer extract -> {out}", show_lines=False)
        for c in ("track", "video", "frames", "status", "models", "s"):
            t.add_column(c, justify="right" if c in ("frames", "s") else "left")
        for r in report.results:
            colour = {"done": "green", "skipped": "dim", "failed": "red"}[r.status]
            other = [f"{m} (other writer)" for m in r.elsewhere]
            t.add_row(r.track, Path(r.video).name, str(r.frames or ""), f"[{colour}]{r.status}[/]",
                      ",".join(r.models + other), f"{r.seconds:.1f}")
        io.out.print(t)
    say.message(io.out, report.counts())
    for text in report.elsewhere():
        say.line(io.out, "skipped", text)
    for r in report.failed:
        say.line(io.out, "failed", f"{r.track}: {r.error}")
    for k, v in report.problems.items():
        say.line(io.out, "problem", f"{k}: {v}")
