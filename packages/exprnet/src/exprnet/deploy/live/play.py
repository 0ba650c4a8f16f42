"""A camera or a video file through the live engine, the rows written as they are decided.

    DIR/<track>.csv    the ``exprnet infer`` columns + latency_ms, dropped (one line per decided
                       frame, flushed at once: nothing decided is lost if the process is killed)
    DIR/summary.json   frames, decided, dropped, sustained fps, latency median/p95, lookahead

A file with ``realtime`` is played at its own frame rate as a live source (frames the machine
cannot keep up with are dropped and counted); without it, as fast as the machine goes (the engine
waits for room instead of dropping). A camera is always live.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from featurizer import stream_media

from .engine import LiveEngine


def open_source(source: str, realtime: bool = False, audio: bool = True) -> Any:
    """The camera (a whole number, or /dev/videoN) or video file as a stream (``fps``, ``has_audio``)."""
    return stream_media(source, realtime=realtime, audio=audio)


class RowWriter:
    """One CSV per track, a line per decided row, flushed as written."""

    def __init__(self, out: Path, classes: list[str]):
        self.out, self.classes = out, classes
        self.head = ["frame", "time", "expression", "face", *classes, "latency_ms", "dropped"]
        self.files: dict[str, IO[str]] = {}

    def write(self, rows: list[dict]) -> None:
        touched = set()
        for r in rows:
            f = self.files.get(r["track"])
            if f is None:
                f = self.files[r["track"]] = (self.out / f"{r['track']}.csv").open("w", encoding="utf-8")
                f.write(",".join(self.head) + "\n")
            face = "" if r["face"] is None else str(int(r["face"]))
            probs = ",".join(f"{r[c]:.7g}" for c in self.classes)
            f.write(f"{r['frame']},{r['time']:.6f},{r['expression']},{face},{probs},{r['latency_ms']:.1f},"
                    f"{r['dropped']}\n")
            touched.add(r["track"])
        for t in touched:
            self.files[t].flush()

    def close(self) -> None:
        for f in self.files.values():
            f.close()


def play(engine: LiveEngine, stream: Any, out: Path, realtime: bool, seconds: float | None = None,
         on_rows: Callable[[list[dict]], None] | None = None) -> dict:
    """Every frame and audio chunk of ``stream`` through ``engine`` (up to ``seconds`` of media);
    returns the summary, also written to ``out/summary.json``. Interrupted (Ctrl-C), it stops
    feeding, flushes what the lookahead held back and still writes the summary."""
    out.mkdir(parents=True, exist_ok=True)
    writer = RowWriter(out, engine.ready()["classes"])
    live = realtime or getattr(stream, "camera", False)
    t0: float | None = None
    interrupted = False

    def emit(rows: list[dict]) -> None:
        writer.write(rows)
        if on_rows is not None:
            on_rows(rows)

    try:
        for kind, t, data in stream:
            t0 = t if t0 is None else t0
            if seconds is not None and t - t0 > seconds:
                break
            if kind == "frame":
                emit(engine.push_frame(t, data, block=not live))
            elif engine.sample_rate is not None:
                emit(engine.push_audio(t, data, 16000))
    except KeyboardInterrupt:
        interrupted = True
    finally:
        stream.close()
        emit(engine.close())
        writer.close()
    summary = {**engine.summary(), "source": str(stream.source), "realtime": live, "source_fps": stream.fps,
               "interrupted": interrupted, "tracks": sorted(writer.files),
               "written_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
