"""The FastAPI app: routes, the API-key check, the concurrency gate and error bodies.

``create_app(settings)`` builds one app; ``app_from_env()`` builds it from FEATURIZER_* variables
so any ASGI server can run it, with several workers::

    uvicorn --factory featurizer.service:app_from_env --workers 2
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import io
import json
import logging
import math
import re
import shutil
import threading
import time
from collections.abc import AsyncIterator, Awaitable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Annotated, Any, TypeVar

import numpy as np
from fastapi import Depends, FastAPI, Query, Request, Security
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import APIKeyHeader, HTTPBearer
from pydantic import ValidationError
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from .. import __version__
from ..errors import FeaturizerError, UnknownModelError
from ..registry import get_spec, list_models, parse_model_list
from .errors import ApiError, from_featurizer
from .jobs import Cancelled, JobRequest, JobResult, ModelCache, run_job
from .schemas import (
    NPZ_MEDIA_TYPE,
    ErrorBody,
    FeatureParams,
    FeaturesResponse,
    FormFields,
    Health,
    ModelInfo,
    ModelsResponse,
)
from .settings import Settings
from .uploads import new_workdir, receive_upload, remove_stale_workdirs

log = logging.getLogger("featurizer.service")
T = TypeVar("T")
OPEN_PATHS = frozenset({"/healthz"})
DOC_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})


# -- the concurrency gate ----------------------------------------------------------------------
class Gate:
    """At most ``limit`` requests compute at once; ``max_queue`` more wait up to ``timeout`` s."""

    def __init__(self, limit: int, max_queue: int, timeout: float):
        self.limit, self.max_queue, self.timeout = limit, max_queue, timeout
        self.waiting = 0
        self.running = 0
        self._sem: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._mean_s = 1.0  # running mean of a job's seconds, for Retry-After

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._sem is None or self._loop is not loop:  # a new loop (tests): start afresh
            self._sem, self._loop, self.running, self.waiting = asyncio.Semaphore(self.limit), loop, 0, 0
        return self._sem

    def retry_after(self) -> int:
        return max(1, math.ceil(self._mean_s * (self.waiting + 1) / self.limit))

    def busy(self, why: str) -> ApiError:
        ra = self.retry_after()
        return ApiError(503, "busy", why, subject="server", headers={"Retry-After": str(ra)},
                        hint=f"retry after {ra} s")

    async def acquire(self) -> None:
        sem = self._semaphore()
        if sem.locked():
            if self.waiting >= self.max_queue:
                raise self.busy(f"all {self.limit} compute slots busy and {self.waiting} requests "
                                "waiting")
            self.waiting += 1
            try:
                async with asyncio.timeout(self.timeout):
                    await sem.acquire()
            except TimeoutError:
                raise self.busy(f"no compute slot free within {self.timeout:g} s") from None
            finally:
                self.waiting -= 1
        else:
            await sem.acquire()
        self.running += 1

    def release(self) -> None:
        self.running -= 1
        if self._sem is not None:
            self._sem.release()

    def release_threadsafe(self) -> None:
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # loop closed: nothing waits any more
                self._loop.call_soon_threadsafe(self.release)

    def observe(self, seconds: float) -> None:
        self._mean_s = 0.8 * self._mean_s + 0.2 * seconds


# -- API key -----------------------------------------------------------------------------------
class ApiKeyMiddleware:
    """Every route but /healthz (and the docs, if public) needs the key: ``X-API-Key: KEY`` or
    ``Authorization: Bearer KEY``. Compared in constant time."""

    def __init__(self, app: ASGIApp, key: str, open_paths: frozenset[str]):
        self.app = app
        self.key = key.encode("utf-8")
        self.open_paths = open_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.open_paths:
            return await self.app(scope, receive, send)
        h = Headers(scope=scope)
        supplied = h.get("x-api-key")
        auth = h.get("authorization", "")
        if supplied is None and auth[:7].lower() == "bearer ":
            supplied = auth[7:].strip()
        if supplied is None or not hmac.compare_digest(supplied.encode("latin-1", "replace"), self.key):
            err = ApiError(401, "unauthorized", "missing API key" if supplied is None else
                           "wrong API key", subject="X-API-Key",
                           hint="send header X-API-Key: KEY or Authorization: Bearer KEY")
            resp = _error_response(err)
            resp.headers["WWW-Authenticate"] = 'Bearer realm="featurizer"'
            return await resp(scope, receive, send)
        return await self.app(scope, receive, send)


_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False,
                               description="The server's API key (featurizer serve --api-key).")
_bearer = HTTPBearer(auto_error=False, description="The server's API key as a bearer token.")


async def _documented_auth(_k: Annotated[str | None, Security(_api_key_header)] = None,
                           _b: Annotated[Any, Security(_bearer)] = None) -> None:
    """Only puts the two schemes in the OpenAPI schema; ApiKeyMiddleware enforces them."""


# -- responses ---------------------------------------------------------------------------------
def _error_response(e: ApiError) -> JSONResponse:
    return JSONResponse(jsonable_encoder(e.body()), status_code=e.status, headers=e.headers)


def _json_default(o: Any) -> Any:
    return o.item() if hasattr(o, "item") else str(o)


def _document(res: JobResult, dtype: str, timing: dict[str, float], arrays: bool) -> dict[str, Any]:
    track = dict(res.track)
    if arrays:
        track["timestamps"] = res.timestamps.tolist()
        track["frame_present"] = res.frame_present.tolist()
    feats = {}
    for r in res.features:
        f = {"model": r.model, "modality": r.modality, "dim": int(r.values.shape[1]),
             "dtype": r.values.dtype.name, "dtype_promoted": r.dtype_promoted,
             "seconds": round(r.seconds, 6), "n_present": int(np.count_nonzero(r.present)),
             "provenance": r.provenance}
        if arrays:
            f["present"] = r.present.tolist()
            f["values"] = r.values.tolist()
        feats[r.model] = f
    return {"track": track, "dtype": dtype, "features": feats, "warnings": res.warnings,
            "timing": {k: round(v, 6) for k, v in timing.items()}, "package": res.package}


def encode_json(res: JobResult, dtype: str, timing: dict[str, float]) -> bytes:
    doc = _document(res, dtype, timing, arrays=True)
    return json.dumps(doc, separators=(",", ":"), allow_nan=False, default=_json_default).encode()


def encode_npz(res: JobResult, dtype: str, timing: dict[str, float]) -> bytes:
    """``timestamps``, ``frame_present``, ``<model>/values``, ``<model>/present`` and ``meta`` (the
    JSON document without the arrays, as a 0-d unicode array: no pickle needed to read it)."""
    meta = json.dumps(_document(res, dtype, timing, arrays=False), default=_json_default)
    arrays: dict[str, np.ndarray] = {"timestamps": res.timestamps,
                                     "frame_present": res.frame_present, "meta": np.array(meta)}
    for r in res.features:
        arrays[f"{r.model}/values"] = r.values
        arrays[f"{r.model}/present"] = r.present
    buf = io.BytesIO()
    np.savez(buf, allow_pickle=False, **arrays)
    return buf.getvalue()


def _wants_npz(params: FeatureParams, accept: str | None) -> bool:
    if params.format is not None:
        return params.format == "npz"
    return NPZ_MEDIA_TYPE in (accept or "").lower()


def _track_name(params: FeatureParams, filename: str) -> str:
    if params.track:
        return params.track
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", Path(filename).stem)[:128].strip("._-")
    return stem or "upload"


def _resolve_models(text: str | None, default: list[str]) -> list[str]:
    names = [n.strip() for n in (text or "").split(",") if n.strip()]
    return parse_model_list(names) if names else list(default)


def _merge_params(query: FeatureParams, fields: dict[str, str]) -> FeatureParams:
    merged: dict[str, Any] = query.model_dump(exclude_unset=True, exclude_none=True)
    for k, v in fields.items():
        if k == "annotation":
            continue
        if k in merged and str(merged[k]) != v:
            raise ApiError(422, "invalid_parameter", f"{k!r} given as query parameter ({merged[k]}) "
                           f"and form field ({v}) with different values", subject=k)
        merged[k] = v
    try:
        return FeatureParams.model_validate(merged)
    except ValidationError as e:
        raise _validation_error(e.errors(include_url=False, include_context=False)) from None


def _validation_error(errors: list[Any]) -> ApiError:
    errs = jsonable_encoder(errors)
    parts = []
    for err in errs:
        loc = ".".join(str(x) for x in err.get("loc", ()) if x not in ("query", "body"))
        parts.append(f"{loc or 'request'}: {err.get('msg')}")
    return ApiError(422, "invalid_parameter", "; ".join(parts) or "invalid request",
                    subject="parameters", errors=errs)


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class _ClientGone(Exception):
    pass


async def _unless_gone(aw: Awaitable[T], watch: asyncio.Future) -> T:
    """Await ``aw`` unless the client disconnects first (then cancel it, raise _ClientGone)."""
    task = asyncio.ensure_future(aw)
    await asyncio.wait({task, watch}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        return task.result()
    task.cancel()
    raise _ClientGone


def _form_schema() -> dict[str, Any]:
    """The multipart body's schema, from :class:`FormFields` (non-null types: forms have no null)."""
    schema = FormFields.model_json_schema()
    schema.pop("title", None)
    for prop in schema["properties"].values():
        alts = prop.pop("anyOf", None)
        if alts:
            prop.update(next(a for a in alts if a.get("type") != "null"))
        prop.pop("default", None)
        prop.pop("title", None)
    schema["properties"]["file"] = {"type": "string", "format": "binary",
                                    "description": schema["properties"]["file"]["description"]}
    return schema


_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "Missing or wrong API key (when the server has one)."},
    422: {"model": ErrorBody, "description": "Invalid parameter, unknown model, undecodable or "
                                             "unusable media, bad annotation."},
}
_FEATURE_ERRORS: dict[int | str, dict[str, Any]] = {
    **_ERRORS,
    400: {"model": ErrorBody, "description": "Malformed multipart body."},
    413: {"model": ErrorBody, "description": "Upload (or a form field) larger than the limit."},
    415: {"model": ErrorBody, "description": "Body is not multipart/form-data, or the file is not "
                                             "a video or audio file FFmpeg can read."},
    503: {"model": ErrorBody, "description": "Busy (with Retry-After), or a model's weights are "
                                             "missing (code weights_unavailable)."},
}


# -- the app -----------------------------------------------------------------------------------
def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    default_models = _resolve_models(",".join(settings.models), []) if settings.models else []
    cache = ModelCache(settings.weights, settings.device, settings.batch_size)
    gate = Gate(settings.max_concurrency, settings.max_queue, settings.queue_timeout)
    pool: dict[str, ThreadPoolExecutor] = {}
    pool_lock = threading.Lock()

    def executor() -> ThreadPoolExecutor:
        with pool_lock:
            if "x" not in pool:
                pool["x"] = ThreadPoolExecutor(settings.max_concurrency,
                                               thread_name_prefix="featurizer-job")
            return pool["x"]

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        import torch

        removed = remove_stale_workdirs(settings.temp_dir)
        if removed:
            log.info("removed %d upload folder(s) left by stopped servers", removed)
        threads_before = torch.get_num_threads()
        torch.set_num_threads(settings.intra_op_threads)  # before the pool's threads start
        try:
            loop = asyncio.get_running_loop()
            for name in default_models:  # load once, before the first request; fail fast
                try:
                    await loop.run_in_executor(executor(), cache.get, name)
                except FeaturizerError as e:
                    log.error("cannot load default model %s: %s", name, e)
                    raise
            log.info("models loaded: %s", ", ".join(cache.loaded()) or "none")
            yield
        finally:
            with pool_lock:
                ex = pool.pop("x", None)
            if ex is not None:
                ex.shutdown(wait=True, cancel_futures=True)
            torch.set_num_threads(threads_before)

    deps = [Depends(_documented_auth)] if settings.api_key else []
    app = FastAPI(
        title="featurizer",
        version=__version__,
        summary="Per-label-frame audio and visual features of one clip, as `featurizer extract` "
                "stores them.",
        description="Upload a clip (multipart field `file`), name the models; get one row per "
                    "label frame for each model, as JSON or `.npz` (`Accept: "
                    f"{NPZ_MEDIA_TYPE}`). See docs/http.md.",
        lifespan=lifespan,
    )
    app.state.settings, app.state.cache, app.state.gate = settings, cache, gate
    if settings.api_key:
        open_paths = OPEN_PATHS | (DOC_PATHS if settings.public_docs else frozenset())
        app.add_middleware(ApiKeyMiddleware, key=settings.api_key, open_paths=open_paths)

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, e: ApiError) -> JSONResponse:
        return _error_response(e)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, e: RequestValidationError) -> JSONResponse:
        return _error_response(_validation_error(list(e.errors())))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, e: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(e.status_code, "http_error")
        err = ApiError(e.status_code, code, str(e.detail), headers=dict(e.headers or {}))
        return _error_response(err)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, e: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return _error_response(ApiError(500, "internal_error", f"internal error ({e.__class__.__name__})",
                                        hint="this is a bug; the server log has the traceback"))

    @app.get("/healthz", response_model=Health, tags=["service"],
             summary="Liveness: the process answers (no API key needed).")
    async def healthz() -> Health:
        return Health(status="ok", version=__version__)

    def _info(spec: Any, loaded: set[str]) -> ModelInfo:
        return ModelInfo(**spec.row(), loaded=spec.name in loaded, default=spec.name in default_models)

    @app.get("/v1/models", response_model=ModelsResponse, tags=["models"], dependencies=deps,
             responses={401: _ERRORS[401]},
             summary="Registered extractors (as `featurizer models` lists them) and which are loaded.")
    async def models() -> ModelsResponse:
        loaded = set(cache.loaded())
        return ModelsResponse(models=[_info(s, loaded) for s in list_models()],
                              loaded=sorted(loaded), default=default_models)

    @app.get("/v1/models/{name}", response_model=ModelInfo, tags=["models"], dependencies=deps,
             responses={401: _ERRORS[401],
                        404: {"model": ErrorBody, "description": "No such model (lists the known)."}},
             summary="One registered extractor.")
    async def model(name: str) -> ModelInfo:
        try:
            spec = get_spec(name)
        except UnknownModelError as e:
            err = from_featurizer(e)
            err.status, err.code = 404, "unknown_model"
            raise err from None
        return _info(spec, set(cache.loaded()))

    @app.post(
        "/v1/features", tags=["features"], dependencies=deps, response_model=FeaturesResponse,
        summary="Features of one uploaded clip, one row per label frame and model.",
        responses={200: {"description": "JSON (default) or, with `Accept: application/x-npz` or "
                                        "`format=npz`, an .npz archive (see docs/http.md).",
                         "content": {NPZ_MEDIA_TYPE: {"schema": {"type": "string",
                                                                 "format": "binary"}}}},
                   **_FEATURE_ERRORS},
        openapi_extra={"requestBody": {"required": True, "content": {
            "multipart/form-data": {"schema": _form_schema()}}}},
    )
    async def features(request: Request,
                       query: Annotated[FeatureParams, Query()]) -> Response:
        t_start = time.perf_counter()
        if query.models:  # fail before reading the upload
            try:
                _resolve_models(query.models, default_models)
            except FeaturizerError as e:
                raise from_featurizer(e) from None
        workdir = new_workdir(settings.temp_dir)
        handed_off = False
        watch: asyncio.Task | None = None
        try:
            try:
                upload = await receive_upload(
                    request.stream(), request.headers.get("content-type"),
                    request.headers.get("content-length"), workdir, settings.max_upload_bytes,
                    settings.max_field_kb * 1024)
            except ClientDisconnect:
                return Response(status_code=499)
            assert upload.path is not None
            t_upload = time.perf_counter()
            params = _merge_params(query, upload.fields)
            try:
                names = _resolve_models(params.models, default_models)
            except FeaturizerError as e:
                raise from_featurizer(e) from None
            if not names:
                raise ApiError(422, "invalid_parameter", "no models given and the server has no "
                               "default models", subject="models", hint="e.g. models=egemaps,fbank")
            filename = upload.filename or "upload"
            dtype = params.dtype or "float16"
            req = JobRequest(path=upload.path, filename=filename,
                             track=_track_name(params, filename), models=names, dtype=dtype,
                             frames=params.frames, fps=params.fps,
                             annotation=upload.fields.get("annotation"),
                             max_frames=settings.max_frames)
            npz = _wants_npz(params, request.headers.get("accept"))
            watch = asyncio.ensure_future(_until_disconnect(request.receive))
            await _unless_gone(gate.acquire(), watch)
            t_queue = time.perf_counter()

            def job() -> bytes:
                t0 = time.perf_counter()
                res = run_job(req, cache)
                gate.observe(time.perf_counter() - t0)
                timing = {"upload": t_upload - t_start, "queue": t_queue - t_upload,
                          "load": res.load_seconds, "compute": res.compute_seconds,
                          "total": time.perf_counter() - t_start}
                return (encode_npz if npz else encode_json)(res, dtype, timing)

            def done(_: Future) -> None:  # on the worker thread, whatever happened
                shutil.rmtree(workdir, ignore_errors=True)
                gate.release_threadsafe()

            try:
                fut = executor().submit(job)
            except RuntimeError:  # shutting down
                gate.release()
                raise gate.busy("server is shutting down") from None
            fut.add_done_callback(done)
            handed_off = True
            try:
                body = await _unless_gone(asyncio.wrap_future(fut), watch)
            except _ClientGone:
                req.cancel.set()
                raise
            except (ApiError, Cancelled):
                raise
            except Exception as e:  # noqa: BLE001 - the input broke the pipeline: say so, not 500
                log.exception("processing %s failed", filename)
                raise ApiError(422, "processing_failed",
                               f"could not be processed ({e.__class__.__name__}: {e})",
                               subject=filename, hint="check the file plays in ffprobe; the "
                               "server log has the details") from None
            return Response(body, media_type=NPZ_MEDIA_TYPE if npz else "application/json")
        except (_ClientGone, Cancelled):
            return Response(status_code=499)
        finally:
            if watch is not None:
                watch.cancel()
            if not handed_off:
                shutil.rmtree(workdir, ignore_errors=True)

    return app


def app_from_env() -> FastAPI:
    """ASGI factory for any server: ``uvicorn --factory featurizer.service:app_from_env``."""
    return create_app(Settings.from_env())
