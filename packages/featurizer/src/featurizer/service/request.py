"""The work of one request, off the event loop: the upload becomes an
:class:`~featurizer.job.ExtractJob` (its label rows held in memory, no annotation file written),
run by ``pipeline.run_job`` with the server's loaded models into a store in the request's work
dir; the response's arrays are read back from that store, so they are exactly what
``featurizer extract`` stores for the clip.

Nothing here knows about HTTP beyond :class:`ApiError`; it runs on the service's worker threads.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..core.annotations import parse_annotation, source_video
from ..core.store import FeatureStore
from ..errors import FeaturizerError, MediaError
from ..executors import LocalExecutor
from ..job import ExtractJob
from ..media import DEFAULT_AUDIO_FPS, Streams, probe_media, probe_streams
from ..pipeline import run_job
from ..progress import Collected
from ..registry import get_spec
from .errors import ApiError, from_featurizer
from .models import ModelCache

log = logging.getLogger("featurizer.service")
# store attributes that are bookkeeping, not how the feature was made
_NOT_PROVENANCE = frozenset({"complete", "dtype", "dtype_promoted", "n_frames", "n_present"})


class Cancelled(Exception):
    """The client went away; the job stops before its next array."""


@dataclass
class JobRequest:
    path: Path  # the spooled upload, alone in the request's work dir
    filename: str
    track: str
    models: list[str]
    dtype: str = "float16"
    frames: int | None = None
    fps: float | None = None
    annotation: str | None = None
    max_frames: int = 200_000
    detect_every: int | None = None  # None: the job's default
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


def check_upload(path: Path, name: str) -> Streams:
    """Which streams the upload has (the pipeline's input check); 415 if it is not media."""
    if path.stat().st_size == 0:
        raise ApiError(422, "empty_file", "file is empty", subject=name,
                       hint="send the clip's bytes as form field `file`")
    try:
        return probe_streams(path)
    except MediaError as e:
        raise ApiError(415, "unsupported_media", e.reason, subject=name,
                       hint="send a video or audio file FFmpeg can read (mp4, avi, mkv, webm, wav, m4a ...)") from None


def run_request(req: JobRequest, cache: ModelCache) -> JobResult:
    """Check, load, extract, read back; raises :class:`ApiError` for anything the client sent."""
    media = _place(req)
    rename = {str(media): req.filename}
    try:
        return _run(req, media, cache, rename)
    except (ApiError, Cancelled):
        raise
    except FeaturizerError as e:
        raise from_featurizer(e, rename=rename) from None


def _place(req: JobRequest) -> Path:
    """Move the upload to the name its track reads (``X`` for ``X_left``), as extract maps files.

    The client's suffix is not kept: FFmpeg picks some demuxers by suffix (``.txt`` renders text
    as video); without one, it goes by the content."""
    folder = req.path.parent / "media"
    folder.mkdir(exist_ok=True)
    target = folder / f"{source_video(req.track)}.upload"
    os.replace(req.path, target)
    return target


def _label_rows(req: JobRequest) -> tuple[int | None, str | None]:
    """Rows from the annotation text (parsed in memory) or ``frames``; None: from the media."""
    if req.annotation is not None:
        n = len(parse_annotation(req.annotation, "annotation"))
        if req.frames is not None and req.frames != n:
            raise ApiError(422, "invalid_parameter", f"frames={req.frames} but the annotation has "
                           f"{n} label lines", subject="frames", hint="give one of them, or make them agree")
        return n, "annotation"
    if req.frames is not None:
        return req.frames, "frames"
    return None, None


def _load(req: JobRequest, cache: ModelCache) -> float:
    """Load what is not loaded yet (a missing weight names its model); returns the seconds."""
    t0 = time.perf_counter()
    for name in req.models:
        try:
            cache.get(name)
        except FeaturizerError as e:
            raise from_featurizer(e, model=name) from None
    return time.perf_counter() - t0


def _run(req: JobRequest, media: Path, cache: ModelCache, rename: dict[str, str]) -> JobResult:
    name = req.filename
    streams = check_upload(media, name)
    visual = [m for m in req.models if get_spec(m).modality == "visual"]
    if visual and not streams.has_video:
        raise ApiError(422, "no_video", f"no video stream; visual models ({', '.join(visual)}) "
                       "need a video", subject=name, hint="send a video, or ask for audio models only")
    n_labels, rows_from = _label_rows(req)
    progress = Collected(req.cancel)
    if streams.has_video and req.fps is not None:
        progress.warn("fps is ignored for video uploads: the video's frame timestamps are used")
    fps = req.fps or DEFAULT_AUDIO_FPS
    info = probe_media(media, fps)
    n = n_labels if n_labels is not None else info.n_frames
    if n > req.max_frames:
        raise ApiError(422, "too_many_frames", f"{n} label rows; this server allows at most "
                       f"{req.max_frames} per request", subject=name, hint="send a shorter clip, or fewer frames")
    if req.cancel.is_set():
        raise Cancelled
    load_s = _load(req, cache)
    t0 = time.perf_counter()
    out = media.parent.parent / "features.zarr"
    more = {} if req.detect_every is None else {"detect_every": req.detect_every}
    job = ExtractJob((str(media),), tuple(req.models), str(out), tracks={req.track: n_labels},
                     dtype=req.dtype, audio_fps=fps, runtime=cache.runtime.serving(req.models), **more)
    report = run_job(job, LocalExecutor(cache, shared=True), progress)
    if progress.cancelled():
        raise Cancelled
    if report.problems:  # checked above already; the pipeline's own check agrees
        raise ApiError(422, "invalid_media", _renamed(next(iter(report.problems.values())), rename),
                       subject=name)
    (result,) = report.results
    if result.status == "failed":
        if result.cause is not None:
            raise from_featurizer(result.cause, rename=rename)
        log.error("processing %s failed: %s", name, result.error)
        raise ApiError(422, "processing_failed", f"could not be processed ({_renamed(result.error, rename)})",
                       subject=name, hint="check the file plays in ffprobe; the server log has the details")
    store = FeatureStore(str(out), mode="r")
    features = [_read_back(store, req.track, m, progress) for m in req.models]
    track = {
        "name": req.track, "frames": int(store.n_frames(req.track)),
        "video_frames": info.n_frames if info.has_video else 0,
        "fps": round(float(info.fps), 6), "duration": round(float(info.duration), 6),
        "has_video": streams.has_video, "has_audio": streams.has_audio,
        "rows_from": rows_from or ("video" if info.has_video else "audio"),
    }
    return JobResult(track, store.timestamps(req.track), store.frame_present(req.track), features,
                     [_renamed(w, rename) for w in progress.warnings], load_s, time.perf_counter() - t0)


def _read_back(store: FeatureStore, track: str, model: str, progress: Collected) -> ModelResult:
    f = store.read_feature(track, model)
    provenance: dict[str, Any] = {k: v for k, v in f.attrs.items() if k not in _NOT_PROVENANCE}
    return ModelResult(model, get_spec(model).modality, f.values, f.present, f.attrs.get("dtype_promoted"),
                       progress.seconds.get((track, model), 0.0), provenance)


def _renamed(text: str | None, rename: dict[str, str]) -> str:
    for old, new in rename.items():
        text = (text or "").replace(old, new)
    return text or ""

