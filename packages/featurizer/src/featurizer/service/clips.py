"""One clip route's life: spool the upload (413 past the cap), check it is media (422 empty,
415 not media), name and place it, cap its rows (422), wait for a slot (503 when full), compute
on a worker thread, stop when the client leaves (499), always clean up.

Every route that takes a clip goes through :meth:`ClipRunner.run` (``app.state.clips``):
``/v1/features`` here, and routes other packages add to the app (exprnet's ``/v1/expressions``),
so limits, naming, queueing, cancellation and errors behave the same on all of them. A route
says only what it computes: ``prepare`` turns the received upload into a :class:`ClipWork`
(its checked parameters and a ``compute(clip) -> body``), raising
:class:`~featurizer.service.errors.ApiError` for what the client sent.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import threading
import time
import unicodedata
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from anyascii import anyascii
from fastapi import Request
from fastapi.responses import Response
from starlette.requests import ClientDisconnect

from ..core.annotations import source_video
from ..errors import FeaturizerError, MediaError
from ..media.decode import Streams, probe_media, probe_streams
from .errors import ApiError, from_featurizer
from .gate import ClientGone, Gate, unless_gone, until_disconnect
from .limits import TEXT_FIELDS, FormLimits
from .settings import Settings
from .uploads import Upload, new_workdir, receive_upload

log = logging.getLogger("featurizer.service")


class Cancelled(Exception):
    """The client went away; the job stops before its next array."""


@dataclass
class Clip:
    """An uploaded clip, checked and placed, as a route's ``compute`` gets it."""

    path: Path  # the media file: ``<workdir>/media/<source>.upload`` (FFmpeg goes by the content)
    filename: str  # as the client sent it
    track: str  # the name the clip's rows carry
    streams: Streams
    fields: dict[str, str]  # the form's text fields (those the route takes)
    cancel: threading.Event  # set when the client leaves
    seconds: dict[str, float] = field(default_factory=dict)  # upload, queue, start (perf_counter)

    @property
    def workdir(self) -> Path:
        """The request's private folder (removed after the response): for a store, say."""
        return self.path.parent.parent

    def named(self, text: str | None) -> str:
        """``text`` (an error, a warning) with the placed file's path replaced by the client's name."""
        return (text or "").replace(str(self.path), self.filename)

    def refusal(self, code: str, error: BaseException | str | None) -> ApiError:
        """A 422 ``code`` for what a route's compute found wrong with this clip: the client's file
        name once, as the subject, then the reason (and whatever else the error names)."""
        if isinstance(error, FeaturizerError):
            subject = self.named(error.subject)
            reason = self.named(error.reason) if subject == self.filename else f"{subject}: {self.named(error.reason)}"
            return ApiError(422, code, reason, subject=self.filename, hint=self.named(error.hint) or None)
        text = self.named(str(error or "could not be processed"))
        return ApiError(422, code, text.removeprefix(f"{self.filename}: "), subject=self.filename)


@dataclass
class ClipWork:
    """What a route computes from one clip."""

    compute: Callable[[Clip], bytes]  # the response body; runs on a worker thread
    media_type: str
    track: str | None = None  # the rows' track name (None: from the file name, :func:`clip_track`)
    rows: Callable[[Clip], int] | None = None  # the rows it will make (None: the video's frames)
    cancel: threading.Event = field(default_factory=threading.Event)


def clip_track(filename: str) -> str:
    """The one naming rule for uploaded clips (every clip route): the file's stem, transliterated
    to ASCII (``anyascii``: ``видео ünï`` -> ``video uni``; emoji and other pictographs dropped),
    each run of characters outside ``A-Za-z0-9._-`` as one ``_``, at most 128 characters; else
    ``upload``."""
    stem = "".join(" " if not c.isascii() and unicodedata.category(c) == "So" else c for c in Path(filename).stem)
    track = re.sub(r"[^A-Za-z0-9._-]+", "_", anyascii(stem))[:128].strip("._-")
    return track or "upload"


def check_media(path: Path, name: str) -> Streams:
    """Which streams the upload has (the pipeline's input check); 415 if it is not media."""
    if path.stat().st_size == 0:
        raise ApiError(422, "empty_file", "file is empty", subject=name,
                       hint="send the clip's bytes as form field `file`")
    try:
        return probe_streams(path)
    except MediaError as e:
        raise ApiError(415, "unsupported_media", e.reason, subject=name,
                       hint="send a video or audio file FFmpeg can read (mp4, avi, mkv, webm, wav, m4a ...)") from None


def place(upload: Path, track: str) -> Path:
    """Move the upload to the name its track reads (``X`` for ``X_left``), as extract maps files.

    The client's suffix is not kept: FFmpeg picks some demuxers by suffix (``.txt`` renders text
    as video); without one, it goes by the content."""
    folder = upload.parent / "media"
    folder.mkdir(exist_ok=True)
    target = folder / f"{source_video(track)}.upload"
    os.replace(upload, target)
    return target


class ClipRunner:
    """The app's one path from an upload to a response (see the module doc)."""

    def __init__(self, settings: Settings, gate: Gate, executor: Callable[[], ThreadPoolExecutor],
                 dependencies: Sequence[Any] = ()):
        self.settings, self.gate, self.executor = settings, gate, executor
        self.dependencies = list(dependencies)  # a clip route's: the API key, documented in OpenAPI

    def _clip(self, upload: Upload, work: ClipWork) -> Clip:
        name = upload.filename or "upload"
        assert upload.path is not None
        streams = check_media(upload.path, name)
        track = work.track or clip_track(name)
        clip = Clip(place(upload.path, track), name, track, streams, dict(upload.fields), work.cancel)
        try:
            n = work.rows(clip) if work.rows is not None else probe_media(clip.path).n_frames
        except FeaturizerError as e:  # what the client sent (an annotation, the file), said as such
            raise from_featurizer(e, rename={str(clip.path): name}) from None
        if n > self.settings.max_frames:
            raise ApiError(422, "too_many_frames", f"{n} label rows; this server allows at most "
                           f"{self.settings.max_frames} per request", subject=name,
                           hint="send a shorter clip, or fewer frames")
        return clip

    async def run(self, request: Request, prepare: Callable[[Upload], ClipWork],
                  fields: Sequence[str] = TEXT_FIELDS) -> Response:
        """Receive the upload (the file and the text ``fields`` its route takes), ``prepare`` it,
        check and place the clip, run its ``compute`` behind the gate."""
        t_start = time.perf_counter()
        s = self.settings
        workdir = new_workdir(s.temp_dir)
        handed_off = False
        watch: asyncio.Task | None = None
        try:
            try:
                upload = await receive_upload(
                    request.stream(), request.headers.get("content-type"),
                    request.headers.get("content-length"), workdir,
                    FormLimits.of(s.max_upload_bytes, s.max_field_kb * 1024, fields))
            except ClientDisconnect:
                return Response(status_code=499)
            assert upload.path is not None
            t_upload = time.perf_counter()
            work = prepare(upload)
            clip = self._clip(upload, work)
            watch = asyncio.ensure_future(until_disconnect(request.receive))
            await unless_gone(self.gate.acquire(), watch)
            t_queue = time.perf_counter()

            def job() -> bytes:
                t0 = time.perf_counter()
                clip.seconds.update(upload=t_upload - t_start, queue=t_queue - t_upload, start=t_start)
                body = work.compute(clip)
                self.gate.observe(time.perf_counter() - t0)
                return body

            def done(_: Future) -> None:  # on the worker thread, whatever happened
                shutil.rmtree(workdir, ignore_errors=True)
                self.gate.release_threadsafe()

            try:
                fut = self.executor().submit(job)
            except RuntimeError:  # shutting down
                self.gate.release()
                raise self.gate.busy("server is shutting down") from None
            fut.add_done_callback(done)
            handed_off = True
            try:
                body = await unless_gone(asyncio.wrap_future(fut), watch)
            except ClientGone:
                work.cancel.set()
                raise
            except (ApiError, Cancelled):
                raise
            except Exception as e:  # noqa: BLE001 - the input broke the pipeline: say so, not 500
                log.exception("processing %s failed", clip.filename)
                raise ApiError(422, "processing_failed", f"could not be processed ({e.__class__.__name__}: "
                               f"{clip.named(str(e))})", subject=clip.filename, hint="check the file plays in ffprobe; the server log "
                               "has the details") from None
            return Response(body, media_type=work.media_type)
        except (ClientGone, Cancelled):
            return Response(status_code=499)
        finally:
            if watch is not None:
                watch.cancel()
            if not handed_off:
                shutil.rmtree(workdir, ignore_errors=True)
