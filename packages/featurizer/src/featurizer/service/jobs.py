"""The work of one request, off the event loop: models from a shared cache, then ``compute_source``.

Nothing here knows about HTTP beyond :class:`ApiError`; it runs on the service's worker threads.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from .. import __version__
from ..core.annotations import read_annotation
from ..core.store import store_cast
from ..errors import FeaturizerError, MediaError
from ..faces import face_source
from ..media import VideoInfo, load_audio, probe_video
from ..pipeline import compute_source, load_extractors, track_timeline
from ..registry import Extractor, get_spec
from ..tracks import SourcePlan, TrackPlan
from .errors import ApiError, from_featurizer

DEFAULT_AUDIO_FPS = 25.0


class ModelCache:
    """Extractors loaded once per process and shared by every request (thread-safe).

    Two requests that need the same unloaded model load it once: a per-name lock; a failed load
    is not cached, so fixing the weights needs no restart.
    """

    def __init__(self, weights: dict[str, str] | None = None, device: str | None = None,
                 batch_size: int | None = None):
        self.weights = dict(weights or {})
        self.device = device
        self.batch_size = batch_size
        self._models: dict[str, Extractor] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> Extractor:
        with self._lock:
            if name in self._models:
                return self._models[name]
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:
            with self._lock:
                if name in self._models:
                    return self._models[name]
            (ex,) = load_extractors([name], self.weights, self.device, self.batch_size)
            with self._lock:
                self._models[name] = ex
            return ex

    def loaded(self) -> list[str]:
        with self._lock:
            return list(self._models)


class Cancelled(Exception):
    """The client went away; the job stops between models."""


@dataclass
class JobRequest:
    path: Path
    filename: str
    track: str
    models: list[str]
    dtype: str = "float16"
    frames: int | None = None
    fps: float | None = None
    annotation: str | None = None
    max_frames: int = 200_000
    cancel: threading.Event = field(default_factory=threading.Event)


@dataclass
class ModelResult:
    model: str
    modality: str
    values: np.ndarray
    present: np.ndarray
    dtype_promoted: str | None
    seconds: float
    provenance: dict


@dataclass
class JobResult:
    track: dict
    timestamps: np.ndarray
    frame_present: np.ndarray
    features: list[ModelResult]
    warnings: list[str]
    load_seconds: float
    compute_seconds: float
    package: str = f"featurizer {__version__}"


@dataclass
class _Streams:
    has_video: bool
    has_audio: bool
    audio_duration: float | None


class _Warnings:
    """The pipeline's progress hooks, keeping only the warnings (for the response)."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def start(self, n_videos: int) -> None: pass
    def video(self, name: str, n_frames: int) -> None: pass
    def frames(self, n: int) -> None: pass
    def video_done(self) -> None: pass

    def warn(self, message: str) -> None:
        if message not in self.messages:
            self.messages.append(message)


def probe_streams(path: Path, name: str) -> _Streams:
    """Which streams the upload has; 415 if FFmpeg cannot read it as media at all."""
    if path.stat().st_size == 0:
        raise ApiError(422, "empty_file", "file is empty", subject=name,
                       hint="send the clip's bytes as form field `file`")
    try:
        with av.open(str(path)) as c:
            has_video = bool(c.streams.video)
            has_audio = bool(c.streams.audio)
            dur = None
            if has_audio:
                st = c.streams.audio[0]
                if st.duration is not None and st.time_base is not None:
                    dur = float(st.duration * st.time_base)
                elif c.duration is not None:
                    dur = c.duration / 1_000_000
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError, OSError) as e:
        raise ApiError(415, "unsupported_media", f"not a decodable video or audio file "
                       f"({e.__class__.__name__}: {getattr(e, 'strerror', None) or e})",
                       subject=name, hint="send a video or audio file FFmpeg can read "
                       "(mp4, avi, mkv, webm, wav, m4a ...)") from None
    if not has_video and not has_audio:
        raise ApiError(415, "unsupported_media", "no video or audio stream", subject=name,
                       hint="send a video or audio file")
    return _Streams(has_video, has_audio, dur)


def _audio_only_info(path: Path, name: str, streams: _Streams, n: int | None, fps: float,
                     max_frames: int) -> tuple[VideoInfo, float]:
    """A label timeline for an audio-only upload: rows at i / fps seconds."""
    duration = streams.audio_duration
    if duration is None or duration <= 0:
        duration = load_audio(path).duration
    if n is None:
        n = max(1, math.ceil(duration * fps - 1e-6))
    _check_rows(n, max_frames, name)
    ts = np.arange(n, dtype=np.float64) / fps
    return VideoInfo(path, ts, 0, 0, True), duration


def _check_rows(n: int, max_frames: int, name: str) -> None:
    if n > max_frames:
        raise ApiError(422, "too_many_frames", f"{n} label rows; this server allows at most "
                       f"{max_frames} per request", subject=name,
                       hint="send a shorter clip, or fewer frames")


def run_job(req: JobRequest, cache: ModelCache) -> JobResult:
    """Load the models, decode, extract; raises :class:`ApiError` for anything the client sent."""
    rename = {str(req.path.parent / "annotation.txt"): "annotation", str(req.path): req.filename}
    try:
        return _run(req, cache, rename)
    except ApiError:
        raise
    except Cancelled:
        raise
    except FeaturizerError as e:
        raise from_featurizer(e, rename=rename) from None


def _load(req: JobRequest, cache: ModelCache) -> tuple[list[Extractor], float]:
    t0 = time.perf_counter()
    extractors = []
    for name in req.models:
        try:
            extractors.append(cache.get(name))
        except FeaturizerError as e:
            raise from_featurizer(e, model=name) from None
    return extractors, time.perf_counter() - t0


def _run(req: JobRequest, cache: ModelCache, rename: dict[str, str]) -> JobResult:
    name = req.filename
    specs = [get_spec(m) for m in req.models]
    streams = probe_streams(req.path, name)
    visual = [s.name for s in specs if s.modality == "visual"]
    if visual and not streams.has_video:
        raise ApiError(422, "no_video", f"no video stream; visual models ({', '.join(visual)}) "
                       "need a video", subject=name, hint="send a video, or ask for audio models only")
    n_labels, label_file, rows_from = None, None, None
    if req.annotation is not None:
        label_file = req.path.parent / "annotation.txt"
        label_file.write_text(req.annotation)
        n_labels, rows_from = len(read_annotation(label_file)), "annotation"
        if req.frames is not None and req.frames != n_labels:
            raise ApiError(422, "invalid_parameter", f"frames={req.frames} but the annotation has "
                           f"{n_labels} label lines", subject="frames",
                           hint="give one of them, or make them agree")
    elif req.frames is not None:
        n_labels, rows_from = req.frames, "frames"
    warnings = _Warnings()
    if streams.has_video:
        if req.fps is not None:
            warnings.warn("fps is ignored for video uploads: the video's frame timestamps are used")
        info = probe_video(req.path)
        duration, fps = info.duration, info.fps
        rows_from = rows_from or "video"
    else:
        fps = req.fps or DEFAULT_AUDIO_FPS
        info, duration = _audio_only_info(req.path, name, streams, n_labels, fps, req.max_frames)
        n_labels, rows_from = None, rows_from or "audio"  # the timeline has exactly n rows
    _check_rows(n_labels if n_labels is not None else info.n_frames, req.max_frames, name)
    if req.cancel.is_set():
        raise Cancelled
    extractors, load_s = _load(req, cache)
    t0 = time.perf_counter()
    plan = SourcePlan(req.path, [TrackPlan(req.track, n_labels, label_file)])
    faces = face_source(None) if visual else None  # detector weights shared, tracks per request
    results: list[ModelResult] = []
    last = time.perf_counter()
    for f in compute_source(plan, extractors, faces, info, None, warnings):
        if req.cancel.is_set():
            raise Cancelled
        now = time.perf_counter()
        spec = next(s for s in specs if s.name == f.model)
        values, promoted = store_cast(f.values, req.dtype, f"{req.track}/{f.model}")
        results.append(ModelResult(f.model, spec.modality, values, np.asarray(f.present, bool),
                                   promoted, now - last, f.provenance))
        if spec.modality == "visual" and not results[-1].present.any():
            warnings.warn(f"{req.track}: no face found in any frame; {f.model} rows are zeros, "
                          "not present")
        last = time.perf_counter()
    timeline = track_timeline(plan.tracks[0], info)
    order = {m: i for i, m in enumerate(req.models)}
    results.sort(key=lambda r: order[r.model])
    if len(results) != len(req.models):  # compute_source yields every model; guard all the same
        missing = sorted(set(req.models) - {r.model for r in results})
        raise MediaError(name, f"no features computed for {missing}")
    track = {
        "name": req.track, "frames": int(timeline.n),
        "video_frames": int(info.n_frames) if streams.has_video else 0,
        "fps": round(float(fps), 6), "duration": round(float(duration), 6),
        "has_video": streams.has_video, "has_audio": streams.has_audio, "rows_from": rows_from,
    }
    messages = []
    for m in warnings.messages:
        for old, new in rename.items():
            m = m.replace(old, new)
        messages.append(m)
    return JobResult(track, timeline.timestamps, timeline.frame_present, results, messages, load_s,
                     time.perf_counter() - t0)
