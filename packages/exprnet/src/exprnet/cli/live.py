"""``exprnet live``: a camera, or a video file played as one, through the live engine."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from featurizer.core import console as say
from rich.table import Table

from .common import app, io, user_errors
from .deploy import (
    BundleOpt,
    DetectEveryOpt,
    DetectorOpt,
    TrustedOpt,
    WeightsOpt,
    _require_extraction,
)


@app.command()
def live(
    bundle_dir: BundleOpt,
    source: Annotated[str, typer.Option("--source", help="A camera index (0: /dev/video0 through v4l2), a "
                                                          "/dev/videoN device, or a video file.")],
    out_dir: Annotated[str, typer.Option("--out", help="Output folder (<track>.csv per person as rows are "
                                                       "decided, summary.json).")],
    realtime: Annotated[bool, typer.Option(help="Play a video file at its own frame rate, as a live source "
                                                "(frames the machine cannot keep up with are dropped and "
                                                "counted); without it, as fast as the machine goes.")] = False,
    seconds: Annotated[float | None, typer.Option(help="Stop after this many seconds of the source.")] = None,
    max_pending: Annotated[int, typer.Option(help="Frames that may wait for the engine (a live source); more are "
                                                  "dropped, so the latency stays bounded.")] = 8,
    decode_lag: Annotated[float, typer.Option(help="Seconds a sequence decoder (viterbi, hsmm) waits before "
                                                   "deciding a frame (fixed-lag decoding).")] = 0.5,
    weights: WeightsOpt = None,
    device: Annotated[str, typer.Option(help="cpu, cuda or auto (extractors and members).")] = "cpu",
    detector: DetectorOpt = None,
    detect_every: DetectEveryOpt = None,
    no_audio: Annotated[bool, typer.Option("--no-audio", help="Ignore the source's sound (members trained "
                                                             "with modality dropout only).")] = False,
    threads: Annotated[int, typer.Option(help="torch threads for the extractors and members (1 leaves the "
                                              "other cores to decoding and the face detector).")] = 1,
    trusted_keys: TrustedOpt = None,
) -> None:
    """Per-frame expressions of a camera or a video file as they happen: the bundle's faces,
    features, members and post-processing run incrementally (docs/live.md)."""
    from featurizer import check_detect_every, parse_weights

    from ..deploy.bundle import Bundle
    from ..deploy.infer import Inferencer
    from ..deploy.live import LiveEngine, LiveError
    from ..deploy.live.play import open_source, play

    with user_errors():
        _require_extraction("exprnet live")
        if threads < 1:
            raise LiveError(f"--threads {threads}: give 1 or more")
        import torch

        torch.set_num_threads(threads)
        every = None if detect_every is None else check_detect_every(detect_every)
        b = Bundle.load(bundle_dir, device=device, trusted_keys=trusted_keys)
        inf = Inferencer(b, parse_weights(weights), device, detector, detect_every=every)
        with io.err.status(f"loading {', '.join(b.recipe.models)} and {len(b.members)} member(s)"):
            inf.load()
        stream = open_source(source, realtime=realtime, audio=not no_audio)
        try:
            with io.err.status("warming the models up (each runs once before the stream starts)"):
                engine = LiveEngine(inf, fps=stream.fps, sample_rate=16000 if stream.has_audio else None,
                                    max_pending=max_pending, name=_name(source), decode_lag_s=decode_lag)
        except BaseException:
            stream.close()
            raise
        ready = engine.ready()
        say.message(io.err, f"{source}: {stream.fps:g} fps{', with audio' if stream.has_audio else ''}; "
                            f"lookahead {ready['lookahead_s'] * 1000:.0f} ms")
        seen = {"n": 0, "last": ""}
        with io.err.status("waiting for the first decided frame") as status:
            shown = [0.0]

            def update(rows: list[dict]) -> None:
                seen["n"] += len(rows)
                if rows:
                    r = rows[-1]
                    what = r.get("expression") or (f"V {r['valence']:+.2f} A {r['arousal']:+.2f}" if "valence" in r
                                                   else "")
                    seen["last"] = f"{r['track']} {r['time']:.2f}s {what} ({r['latency_ms']:.0f} ms)"
                if time.perf_counter() - shown[0] > 0.5:
                    shown[0] = time.perf_counter()
                    status.update(f"{seen['n']} rows decided, {engine.summary()['dropped']} dropped; {seen['last']}")

            summary = play(engine, stream, Path(out_dir), realtime, seconds, update)
        _table(summary)
        say.message(io.out, f"{summary['decided']} row(s) of {summary['frames']} frame(s) -> {out_dir} "
                            f"({', '.join(t + '.csv' for t in summary['tracks']) or 'no track'}, summary.json)")


def _name(source: str) -> str:
    text = source.strip()
    if text.isdigit() or text.startswith("/dev/"):
        return f"camera{text.rsplit('video', 1)[-1] if text.startswith('/dev/') else text}"
    return Path(text).stem


def _table(s: dict) -> None:
    t = Table(title="exprnet live", show_header=False, box=None)  # no borders: fits a 40-column log
    t.add_column(no_wrap=True)
    t.add_column(overflow="fold")
    lat = s["latency_ms"]
    for k, v in (("frames", s["frames"]), ("decided", s["decided"]), ("dropped", s["dropped"]),
                 ("fps sustained", f"{s['fps']:g} (source {s['source_fps']:g})"),
                 ("lookahead", f"{s['lookahead_s'] * 1000:.0f} ms"),
                 ("latency median / p95", f"{lat['median']:.0f} / {lat['p95']:.0f} ms")):
        t.add_row(k, str(v))
    io.out.print(t)
