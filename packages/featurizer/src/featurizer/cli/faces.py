"""``featurizer faces``: detect, align and track faces into the Aff-Wild2 layout."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .. import extras
from ..core import console as say
from ..errors import FeaturizerError
from ..progress import RichProgress
from .common import DetectEvery, app, fail, io


@app.command()
def faces(
    videos: Annotated[list[Path], typer.Argument(help="Video files or folders (searched recursively).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for <track>/00001.jpg crops and <track>.csv.")],
    detector: Annotated[str, typer.Option(help="retinaface (default), mtcnn, or haar (no landmarks).")] = "retinaface",
    threshold: Annotated[float | None, typer.Option(show_default=False, help="Lowest detection score kept (default: retinaface 0.8, mtcnn 0.9).")] = None,
    max_gap: Annotated[int, typer.Option(help="Frames a face may go undetected and keep its track.")] = 10,
    detect_every: DetectEvery = None,
    device: Annotated[str | None, typer.Option(help="cpu (default), cuda, cuda:N or auto.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Redo videos already written to --out.")] = False,
) -> None:
    """Detect, align (112x112, ArcFace template) and track faces into the Aff-Wild2 layout."""
    try:
        extras.require("extract", "featurizer faces")
    except FeaturizerError as e:
        fail(e)
    from ..faces.track import TrackRule
    from ..faces.tracker import DEFAULT_DETECT_EVERY, check_detect_every
    from ..faces.write import summary, write_faces

    try:
        every = DEFAULT_DETECT_EVERY if detect_every is None else check_detect_every(detect_every)
        with RichProgress(io.err) as prog:
            report = write_faces(videos, out, detector, overwrite, TrackRule(max_gap=max_gap), device,
                                 threshold, prog, every)
    except FeaturizerError as e:
        fail(e)
    table, line = summary(report, out)
    io.out.print(table)
    say.message(io.out, line)
    for r in report.results:
        if r.status == "failed":
            say.line(io.out, "failed", r.error)
    if not report.ok:
        raise typer.Exit(1)
