"""One upload route's life: spool the upload (413 past the cap), wait for a slot (503 when full),
compute on a worker thread, stop when the client leaves (499), always clean up.

Every route that takes a clip goes through :meth:`UploadRunner.run`: ``/v1/features`` here, and
routes other packages add to the app (exprnet's ``/v1/expressions``), so limits, queueing,
cancellation and errors behave the same on all of them. A route hands over ``prepare``: from the
received upload to an :class:`UploadWork` (checked parameters and the job), raising
:class:`~featurizer.service.errors.ApiError` for what the client sent.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from fastapi import Request
from fastapi.responses import Response
from starlette.requests import ClientDisconnect

from .errors import ApiError
from .gate import ClientGone, Gate, unless_gone, until_disconnect
from .request import Cancelled
from .settings import Settings
from .uploads import TEXT_FIELDS, Upload, new_workdir, receive_upload

log = logging.getLogger("featurizer.service")


@dataclass
class UploadWork:
    """What a route computes from one upload, off the event loop."""

    run: Callable[[dict[str, float]], bytes]  # the response body; gets the seconds so far (upload, queue)
    media_type: str
    filename: str
    cancel: threading.Event = field(default_factory=threading.Event)  # set when the client leaves


class UploadRunner:
    """The app's one path from an upload to a response (see the module doc)."""

    def __init__(self, settings: Settings, gate: Gate, executor: Callable[[], ThreadPoolExecutor]):
        self.settings, self.gate, self.executor = settings, gate, executor

    async def run(self, request: Request, prepare: Callable[[Upload], UploadWork],
                  fields: Sequence[str] = TEXT_FIELDS) -> Response:
        """Receive the upload (the file and the text ``fields`` its route takes), ``prepare`` it,
        run its job behind the gate."""
        t_start = time.perf_counter()
        s = self.settings
        workdir = new_workdir(s.temp_dir)
        handed_off = False
        watch: asyncio.Task | None = None
        try:
            try:
                upload = await receive_upload(
                    request.stream(), request.headers.get("content-type"),
                    request.headers.get("content-length"), workdir, s.max_upload_bytes, s.max_field_kb * 1024,
                    fields)
            except ClientDisconnect:
                return Response(status_code=499)
            assert upload.path is not None
            t_upload = time.perf_counter()
            work = prepare(upload)
            watch = asyncio.ensure_future(until_disconnect(request.receive))
            await unless_gone(self.gate.acquire(), watch)
            t_queue = time.perf_counter()

            def job() -> bytes:
                t0 = time.perf_counter()
                body = work.run({"upload": t_upload - t_start, "queue": t_queue - t_upload, "start": t_start})
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
                log.exception("processing %s failed", work.filename)
                raise ApiError(422, "processing_failed", f"could not be processed ({e.__class__.__name__}: {e})",
                               subject=work.filename, hint="check the file plays in ffprobe; the server log "
                               "has the details") from None
            return Response(body, media_type=work.media_type)
        except (ClientGone, Cancelled):
            return Response(status_code=499)
        finally:
            if watch is not None:
                watch.cancel()
            if not handed_off:
                shutil.rmtree(workdir, ignore_errors=True)
