"""The FastAPI app: its routes, wired to the gate, the API key, the request runner and the
encoders of the modules beside it.

``create_app(settings)`` builds one app; ``app_from_env()`` builds it from FEATURIZER_* variables
so any ASGI server can run it, with several workers::

    uvicorn --factory featurizer.service:app_from_env --workers 2
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..core.device import resolve_device
from ..errors import FeaturizerError, UnknownModelError
from ..models.cache import ModelCache
from ..models.registry import get_spec, specs
from .auth import DOC_PATHS, OPEN_PATHS, ApiKeyMiddleware, documented_auth
from .clips import Clip, ClipRunner, ClipWork
from .encode import encode_json, encode_npz, error_response
from .errors import ApiError, from_featurizer
from .gate import Gate
from .openapi import tailor
from .params import (
    CLIP_ERRORS,
    ERRORS,
    form_schema,
    merge_params,
    resolve_models,
    validation_error,
    wants_npz,
)
from .request import JobRequest, label_rows, run_request
from .schemas import (
    NPZ_MEDIA_TYPE,
    ErrorBody,
    FeatureParams,
    FeaturesResponse,
    Health,
    ModelInfo,
    ModelsResponse,
)
from .settings import Settings
from .uploads import Upload, remove_stale_workdirs

log = logging.getLogger("featurizer.service")


# -- the app -----------------------------------------------------------------------------------
def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    default_models = resolve_models(",".join(settings.models), []) if settings.models else []
    allowed = settings.servable()
    variants = settings.allowed_models is None  # NAME:X served with NAME (the schema lists base names)
    cache = ModelCache(settings.runtime())
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
        resolve_device(settings.device)  # the one device rule: no CUDA here stops the start
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

    deps = [Depends(documented_auth)] if settings.api_key else []
    clips = ClipRunner(settings, gate, executor, deps)
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
    app.state.settings, app.state.cache, app.state.gate, app.state.clips = settings, cache, gate, clips
    base_openapi = app.openapi

    def openapi() -> dict[str, Any]:  # narrowed to what this server accepts (service/openapi.py)
        if app.openapi_schema is None:
            registered = [s.name for s in specs()]
            app.openapi_schema = tailor(base_openapi(), settings, default_models, allowed, registered)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    if settings.api_key:
        open_paths = OPEN_PATHS | (DOC_PATHS if settings.public_docs else frozenset())
        app.add_middleware(ApiKeyMiddleware, key=settings.api_key, open_paths=open_paths)

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, e: ApiError) -> JSONResponse:
        return error_response(e)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, e: RequestValidationError) -> JSONResponse:
        return error_response(validation_error(list(e.errors())))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, e: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(e.status_code, "http_error")
        err = ApiError(e.status_code, code, str(e.detail), headers=dict(e.headers or {}))
        return error_response(err)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, e: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return error_response(ApiError(500, "internal_error", f"internal error ({e.__class__.__name__})",
                                        hint="this is a bug; the server log has the traceback"))

    @app.get("/healthz", response_model=Health, tags=["service"],
             summary="Liveness: the process answers (no API key needed).")
    async def healthz() -> Health:
        return Health(status="ok", version=__version__)

    def _info(spec: Any, loaded: set[str]) -> ModelInfo:
        return ModelInfo(**spec.row(), loaded=spec.name in loaded, default=spec.name in default_models)

    @app.get("/v1/models", response_model=ModelsResponse, tags=["models"], dependencies=deps,
             responses={401: ERRORS[401]},
             summary="Registered extractors (as `featurizer models` lists them) and which are loaded.")
    async def models() -> ModelsResponse:
        loaded = set(cache.loaded())
        return ModelsResponse(models=[_info(s, loaded) for s in specs()],
                              loaded=sorted(loaded), default=default_models)

    @app.get("/v1/models/{name}", response_model=ModelInfo, tags=["models"], dependencies=deps,
             responses={401: ERRORS[401],
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
                   **CLIP_ERRORS},
        openapi_extra={"requestBody": {"required": True, "content": {
            "multipart/form-data": {"schema": form_schema()}}}},
    )
    async def features(request: Request,
                       query: Annotated[FeatureParams, Query()]) -> Response:
        if query.models:  # fail before reading the upload
            try:
                resolve_models(query.models, default_models, allowed, variants)
            except FeaturizerError as e:
                raise from_featurizer(e) from None

        def prepare(upload: Upload) -> ClipWork:
            params = merge_params(query, upload.fields)
            try:
                names = resolve_models(params.models, default_models, allowed, variants)
            except FeaturizerError as e:
                raise from_featurizer(e) from None
            if not names:
                raise ApiError(422, "invalid_parameter", "no models given and the server has no "
                               "default models", subject="models", hint="e.g. models=egemaps,fbank")
            dtype = params.dtype or "float16"
            req = JobRequest(models=names, dtype=dtype, frames=params.frames, fps=params.fps,
                             detect_every=params.detect_every, annotation=upload.fields.get("annotation"))
            npz = wants_npz(params, request.headers.get("accept"))

            def compute(clip: Clip) -> bytes:
                res = run_request(req, clip, cache)
                timing = {"upload": clip.seconds["upload"], "queue": clip.seconds["queue"],
                          "load": res.load_seconds, "compute": res.compute_seconds,
                          "total": time.perf_counter() - clip.seconds["start"]}
                return (encode_npz if npz else encode_json)(res, dtype, timing)

            return ClipWork(compute, NPZ_MEDIA_TYPE if npz else "application/json", track=params.track,
                            rows=lambda clip: label_rows(req, clip))

        return await clips.run(request, prepare)

    return app


def app_from_env() -> FastAPI:
    """ASGI factory for any server: ``uvicorn --factory featurizer.service:app_from_env``."""
    return create_app(Settings.from_env())
