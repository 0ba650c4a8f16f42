"""A video file or a camera as a stream: frames and audio chunks in the order they are demuxed, for
live use (``exprnet live``).

``stream_media(source)`` opens it (its ``fps``, ``has_audio``); iterating yields ``("frame", t, rgb)`` (RGB uint8) and ``("audio", t, pcm)`` (mono
float32 at 16 kHz, ``t`` its first sample's presentation time): the audio goes through one
libswresample pass exactly as :func:`~featurizer.media.decode.load_audio` decodes it (the same
samples, chunk by chunk), so a file streamed equals the file read whole. Items come in timestamp
order, as a camera and a microphone deliver them: a file stores its audio up to a second or more
away from the video of the same moment (its muxer's interleaving), so the streams are read ahead
and merged (at most ``MAX_SKEW_S`` apart). ``realtime``: paced at the source's own timestamps (a
file played as a live source: each item comes when its moment does). A camera is a whole number (``/dev/videoN``
through v4l2 on Linux, the device index through AVFoundation on macOS) or a device path.
"""

from __future__ import annotations

import heapq
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from ..errors import MediaError
from .decode import SAMPLE_RATE, _open

MAX_SKEW_S = 2.0  # read ahead of the other stream at most this far (an audio track that ends early): decoded frames held


def camera_device(source: str | int) -> tuple[str, str] | None:
    """(ffmpeg input, format) of a camera index or device path; None for anything else (a file)."""
    text = str(source).strip()
    if text.isdigit():
        if sys.platform == "darwin":
            return text, "avfoundation"
        return f"/dev/video{text}", "v4l2"
    if text.startswith("/dev/video"):
        return text, "v4l2"
    return None


def open_source(source: str | int | os.PathLike) -> av.container.InputContainer:
    """The container of a camera (index or device) or a media file; a one-line MediaError if absent."""
    dev = camera_device(source) if not isinstance(source, os.PathLike) else None
    if dev is None:
        return _open(Path(source))
    name, fmt = dev
    if fmt == "v4l2" and not Path(name).exists():
        raise MediaError(f"camera {source}", f"{name} does not exist (no camera at that index)",
                         "plug a camera in, check `ls /dev/video*`, or give a video file as --source")
    try:
        return av.open(name, format=fmt)
    except (av.error.FFmpegError, OSError, ValueError) as e:
        raise MediaError(f"camera {source}", f"{name} cannot be opened ({' '.join(str(e).split())})",
                         "check no other program holds it and that you may read it (the video group)") from None


class MediaStream:
    """An opened source (see the module doc): ``fps`` (its frame rate, 30 if it does not say),
    ``has_audio``; iterate for the items; the source closes when the iteration ends or on ``close``."""

    def __init__(self, source: str | int | os.PathLike, realtime: bool = False, audio: bool = True):
        self.source, self.realtime = source, realtime
        self.container = open_source(source)
        c = self.container
        if not c.streams.video:
            c.close()
            raise MediaError(str(source), "has no video stream", "give a video file or a camera")
        rate = c.streams.video[0].average_rate or c.streams.video[0].guessed_rate
        self.fps = float(rate) if rate else 30.0
        self.has_audio = bool(audio and c.streams.audio)
        self.camera = camera_device(source) is not None and not isinstance(source, os.PathLike)

    def close(self) -> None:
        self.container.close()

    def __enter__(self) -> MediaStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[tuple[str, float, np.ndarray]]:
        c = self.container
        streams = [c.streams.video[0]] + ([c.streams.audio[0]] if self.has_audio else [])
        streams[0].thread_type = "AUTO"
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE) if len(streams) > 1 else None
        a_start: float | None = None
        a_done = 0
        clock: tuple[float, float] | None = None  # (wall, media time) of the first item

        def pace(t: float) -> None:
            nonlocal clock
            if not self.realtime:
                return
            if clock is None:
                clock = (time.perf_counter(), t)
            wait = clock[0] + (t - clock[1]) - time.perf_counter()
            if wait > 0:
                time.sleep(wait)

        def chunks(frame: av.AudioFrame | None) -> Iterator[tuple[str, float, np.ndarray]]:
            nonlocal a_start, a_done
            if frame is not None and a_start is None and frame.time is not None:
                a_start = float(frame.time)
            for out in resampler.resample(frame):
                pcm = np.ascontiguousarray(out.to_ndarray().reshape(-1), dtype=np.float32)
                t = (a_start or 0.0) + a_done / SAMPLE_RATE
                a_done += len(pcm)
                pace(t)
                yield "audio", t, pcm

        def demuxed() -> Iterator[tuple[str, float, np.ndarray]]:
            for packet in c.demux(*streams):
                for frame in packet.decode():
                    if isinstance(frame, av.AudioFrame):
                        yield from chunks(frame)
                    elif frame.time is not None:
                        yield "frame", float(frame.time), frame.to_ndarray(format="rgb24")
            if resampler is not None:
                yield from chunks(None)

        try:
            for kind, t, x in merged(demuxed(), len(streams)):
                pace(t)
                yield kind, t, x
        except av.error.FFmpegError as e:
            raise MediaError(str(self.source), f"decoding failed ({' '.join(str(e).split())})") from None
        finally:
            c.close()


def merged(items: Iterator[tuple[str, float, np.ndarray]], n_kinds: int) -> Iterator[tuple[str, float, np.ndarray]]:
    """Items of ``n_kinds`` kinds, each kind in time order, in time order overall: an item is let
    out once every kind has reached its time (or another kind is ``MAX_SKEW_S`` past it)."""
    heap: list[tuple[float, int, str, np.ndarray]] = []
    last: dict[str, float] = {}
    for k, (kind, t, x) in enumerate(items):
        heapq.heappush(heap, (t, k, kind, x))
        last[kind] = t
        safe = min(last.values()) if len(last) == n_kinds else -np.inf
        safe = max(safe, max(last.values()) - MAX_SKEW_S)
        while heap and heap[0][0] <= safe:
            t0, _, kind0, x0 = heapq.heappop(heap)
            yield kind0, t0, x0
    while heap:
        t0, _, kind0, x0 = heapq.heappop(heap)
        yield kind0, t0, x0


def stream_media(source: str | int | os.PathLike, realtime: bool = False, audio: bool = True) -> MediaStream:
    """``source`` opened as a stream of frames and audio chunks (see the module doc)."""
    return MediaStream(source, realtime, audio)
