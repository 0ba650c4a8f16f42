"""Commands on a store: ``inspect``, ``import``, ``export``; and ``demo-data`` to make a corpus."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..core import console as say
from ..errors import FeaturizerError
from .common import app, fail, io


@app.command()
def inspect(store: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Tracks, extractors, dims and coverage of a store."""
    from ..core.store import FeatureStore
    from ..extraction.interchange import inspect_store

    try:
        info = inspect_store(FeatureStore(store, mode="r"))
    except FeaturizerError as e:
        fail(e)
    if as_json:
        io.out.print_json(json.dumps(info))
        return
    t = Table(title=f"{store}: {info['n_tracks']} tracks, {info['n_frames']} frames")
    for c in ("model", "modality", "dim", "dtype", "tracks", "frames", "present"):
        t.add_column(c)
    for m, s in sorted(info["models"].items()):
        cov = s["present"] / s["frames"] if s["frames"] else 0
        t.add_row(m, str(s["modality"]), str(s["dim"]), str(s["dtype"]), f"{s['tracks']}/{info['n_tracks']}",
                  str(s["frames"]), f"{cov:.1%}")
    io.out.print(t)


@app.command("import")
def import_(
    src: Annotated[Path, typer.Argument(help="Folder of <track>.npy, or HDF5 file(s) keyed <track>/00001.")],
    store: Annotated[str, typer.Option(help="Store to write into.")],
    name: Annotated[str, typer.Option(help="Feature name in the store.")],
    fps: Annotated[float, typer.Option(help="Frame rate for tracks new to the store.")] = 30.0,
    overwrite: bool = False,
) -> None:
    """Import features made elsewhere into the store layout."""
    from ..core.store import FeatureStore
    from ..extraction.interchange import import_features

    try:
        rep = import_features(FeatureStore(store), name, src, fps, overwrite)
    except FeaturizerError as e:
        fail(e)
    say.message(io.out, f"imported {name!r} for {len(rep.imported)} track(s) into {store}")
    for k, v in rep.problems.items():
        say.line(io.out, "problem", f"{k}: {v}")
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
    from ..core.store import FeatureStore
    from ..extraction.interchange import export_feature

    try:
        a, b = export_feature(FeatureStore(store, mode="r"), track, model, out)
    except FeaturizerError as e:
        fail(e)
    say.message(io.out, f"wrote {a} and {b}")


@app.command("demo-data")
def demo_data(
    out: Path,
    videos: Annotated[int, typer.Option(help="Number of videos.")] = 8,
    seconds: Annotated[float, typer.Option(help="Length of each video.")] = 20.0,
    seed: int = 0,
    heldout: Annotated[int, typer.Option(help="Videos more, in heldout/, that no training run sees.")] = 1,
    portrait: Annotated[bool, typer.Option(help="Also write portrait/astronaut.mp4: a real smiling face (scikit-image's astronaut photograph), with eSpeak NG speech when installed.")] = False,
) -> None:
    """Write a small corpus in the Aff-Wild2 layout (videos, EXPR annotations, VA_Set, AU_Set,
    cropped_aligned)."""
    from ..demo import make_demo

    with io.err.status(f"writing demo corpus to {out}"):
        tracks = make_demo(out, videos, seconds, seed, heldout=heldout)
    if portrait:
        from ..demo.portrait import write_portrait

        try:
            clip, spoken = write_portrait(Path(out) / "portrait" / "astronaut.mp4")
        except FeaturizerError as e:
            fail(e)
        say.message(io.out, f"real-face clip: {clip} ({'with' if spoken else 'without'} speech)")
    say.message(io.out, f"demo corpus: {len(tracks)} tracks from {videos} videos of {seconds:g} s in {out} "
                      f"(videos/, annotations/Train_Set|Validation_Set/ (EXPR), VA_Set/, AU_Set/, cropped_aligned/)"
                      + (f"; {heldout} held-out video(s) in {Path(out) / 'heldout'}" if heldout else ""))
