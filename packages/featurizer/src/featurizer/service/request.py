"""What ``/v1/features`` computes from a clip, off the event loop: the clip becomes an
:class:`~featurizer.extraction.job.ExtractJob` (its label rows held in memory, no annotation file
written), run by ``pipeline.run_job`` with the server's loaded models into a store in the
request's work dir; the response's arrays are read back from that store, so they are exactly
what ``featurizer extract`` stores for the clip.

Nothing here knows about HTTP beyond :class:`ApiError`; it runs on the service's worker threads.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import __version__
from ..core.annotations import parse_annotation
from ..core.store import FeatureStore
from ..errors import FeaturizerError
from ..extraction.executors import LocalExecutor
from ..extraction.job import ExtractJob
from ..extraction.pipeline import run_job
from ..media.decode import DEFAULT_AUDIO_FPS, probe_media
from ..models.cache import ModelCache
from ..models.registry import get_spec
from ..progress import Collected
from .clips import Cancelled, Clip
from .errors import ApiError, from_featurizer

log = logging.getLogger("featurizer.service")
# store attributes that are bookkeeping, not how the feature was made
_NOT_PROVENANCE = frozenset({"complete", "dtype", "dtype_promoted", "n_frames", "n_present"})


@dataclass
class JobRequest:
    """The checked parameters of one ``/v1/features`` request."""

    models: list[str]
    dtype: str = "float16"
    frames: int | None = None
    fps: float | None = None
    annotation: str | None = None
    detect_every: int | None = None  # None: the job's default


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


def label_rows(req: JobRequest, clip: Clip) -> int:
    """The rows the request makes: its annotation's lines, ``frames``, or the media's frames (or
    rows at ``fps`` for audio)."""
    n, _ = _label_rows(req)
    return n if n is not None else probe_media(clip.path, req.fps or DEFAULT_AUDIO_FPS).n_frames


def run_request(req: JobRequest, clip: Clip, cache: ModelCache) -> JobResult:
    """Load, extract, read back; raises :class:`ApiError` for anything the client sent."""
    try:
        return _run(req, clip, cache)
    except (ApiError, Cancelled):
        raise
    except FeaturizerError as e:
        raise from_featurizer(e, rename={str(clip.path): clip.filename}) from None


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


def _run(req: JobRequest, clip: Clip, cache: ModelCache) -> JobResult:
    name, media, streams, rename = clip.filename, clip.path, clip.streams, {str(clip.path): clip.filename}
    visual = [m for m in req.models if get_spec(m).modality == "visual"]
    if visual and not streams.has_video:
        raise ApiError(422, "no_video", f"no video stream; visual models ({', '.join(visual)}) "
                       "need a video", subject=name, hint="send a video, or ask for audio models only")
    n_labels, rows_from = _label_rows(req)
    progress = Collected(clip.cancel)
    if streams.has_video and req.fps is not None:
        progress.warn("fps is ignored for video uploads: the video's frame timestamps are used")
    fps = req.fps or DEFAULT_AUDIO_FPS
    info = probe_media(media, fps)
    if clip.cancel.is_set():
        raise Cancelled
    load_s = _load(req, cache)
    t0 = time.perf_counter()
    out = clip.workdir / "features.zarr"
    more = {} if req.detect_every is None else {"detect_every": req.detect_every}
    job = ExtractJob((str(media),), tuple(req.models), str(out), tracks={clip.track: n_labels},
                     dtype=req.dtype, audio_fps=fps, runtime=cache.runtime.serving(req.models), **more)
    report = run_job(job, LocalExecutor(cache, shared=True), progress)
    if progress.cancelled():
        raise Cancelled
    if report.problems:  # checked above already; the pipeline's own check agrees
        raise ApiError(422, "invalid_media", clip.named(next(iter(report.problems.values()))),
                       subject=name)
    (result,) = report.results
    if result.status == "failed":
        if result.cause is not None:
            raise from_featurizer(result.cause, rename=rename)
        log.error("processing %s failed: %s", name, result.error)
        raise ApiError(422, "processing_failed", f"could not be processed ({clip.named(result.error)})",
                       subject=name, hint="check the file plays in ffprobe; the server log has the details")
    store = FeatureStore(str(out), mode="r")
    features = [_read_back(store, clip.track, m, progress) for m in req.models]
    track = {
        "name": clip.track, "frames": int(store.n_frames(clip.track)),
        "video_frames": info.n_frames if info.has_video else 0,
        "fps": round(float(info.fps), 6), "duration": round(float(info.duration), 6),
        "has_video": streams.has_video, "has_audio": streams.has_audio,
        "rows_from": rows_from or ("video" if info.has_video else "audio"),
    }
    return JobResult(track, store.timestamps(clip.track), store.frame_present(clip.track), features,
                     [clip.named(w) for w in progress.warnings], load_s, time.perf_counter() - t0)


def _read_back(store: FeatureStore, track: str, model: str, progress: Collected) -> ModelResult:
    f = store.read_feature(track, model)
    provenance: dict[str, Any] = {k: v for k, v in f.attrs.items() if k not in _NOT_PROVENANCE}
    return ModelResult(model, get_spec(model).modality, f.values, f.present, f.attrs.get("dtype_promoted"),
                       progress.seconds.get((track, model), 0.0), provenance)
