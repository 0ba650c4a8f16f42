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

from ...tasks.names import AU_NAMES
from .engine import LiveEngine
from .errors import LiveError
from .tasks import task_columns_of

_INTS = {"frame", "dropped", *AU_NAMES}


def _cell(name: str, v: Any) -> str:
    """As ``exprnet infer``'s CSV writes the column (:func:`~exprnet.deploy.outputs.csv_text`)."""
    if name == "time":
        return f"{v:.6f}"
    if name == "expression":
        return str(v)
    if name == "face":
        return "" if v is None else str(int(v))
    if name == "latency_ms":
        return f"{v:.1f}"
    return str(int(v)) if name in _INTS else f"{v:.7g}"


def open_source(source: str, realtime: bool = False, audio: bool = True) -> Any:
    """The camera (a whole number, or /dev/videoN) or video file as a stream (``fps``, ``has_audio``)."""
    return stream_media(source, realtime=realtime, audio=audio)


class RowWriter:
    """One CSV per track, a line per decided row, flushed as written; the columns of ``exprnet
    infer``'s CSV for the bundle's tasks (:func:`.tasks.task_columns`), then latency_ms, dropped."""

    def __init__(self, out: Path, classes: list[str], tasks: list[str] | None = None):
        tasks = list(tasks or ["expr"])
        self.out, self.classes = out, classes if "expr" in tasks else []
        self.head = ["frame", "time", *(["expression"] if "expr" in tasks else []), "face", *self.classes,
                     *task_columns_of(tasks), "latency_ms", "dropped"]
        self.files: dict[str, IO[str]] = {}

    def write(self, rows: list[dict]) -> None:
        touched = set()
        for r in rows:
            f = self.files.get(r["track"])
            if f is None:
                f = self.files[r["track"]] = (self.out / f"{r['track']}.csv").open("w", encoding="utf-8")
                f.write(",".join(self.head) + "\n")
            f.write(",".join(_cell(h, r[h]) for h in self.head) + "\n")
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
    ready = engine.ready()
    writer = RowWriter(out, ready["classes"], ready["tasks"])
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
    err = engine.take_error()  # a worker's error after the last push: the rows are written, then it is raised
    if err:
        summary["error"] = err
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if err:
        raise LiveError(err)
    return summary
