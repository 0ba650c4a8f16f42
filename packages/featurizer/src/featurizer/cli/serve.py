"""``featurizer serve``: the HTTP service under uvicorn (docs/http.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .. import extras
from ..core import console as say
from ..errors import FeaturizerError
from .common import app, fail, io


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
    models: Annotated[str | None, typer.Option(show_default=False, help="Models loaded at start-up and used when a request names none (default: egemaps,compare,fbank,hog,fer,vad; env FEATURIZER_MODELS).")] = None,
    allowed_models: Annotated[str | None, typer.Option(show_default=False, help="The only models requests may name, besides --models (default: every registered model whose weights are on this machine or that needs none; env FEATURIZER_ALLOWED_MODELS); the OpenAPI schema lists them.")] = None,
    max_upload_mb: Annotated[float | None, typer.Option(show_default=False, help="Largest upload in MiB; 413 past it (default: 200; env FEATURIZER_MAX_UPLOAD_MB).")] = None,
    max_concurrency: Annotated[int | None, typer.Option(show_default=False, help="Requests computed at once per worker; also its thread pool size (default: CPU count; env FEATURIZER_MAX_CONCURRENCY).")] = None,
    max_queue: Annotated[int | None, typer.Option(show_default=False, help="Requests that may wait for a slot; more get 503 (default: 64; env FEATURIZER_MAX_QUEUE).")] = None,
    queue_timeout: Annotated[float | None, typer.Option(show_default=False, help="Seconds a request may wait for a slot, then 503 + Retry-After (default: 60; env FEATURIZER_QUEUE_TIMEOUT).")] = None,
    api_key: Annotated[str | None, typer.Option(show_default=False, help="Require this key on every route but /healthz: X-API-Key or Authorization: Bearer (env FEATURIZER_API_KEY).")] = None,
    public_docs: Annotated[bool | None, typer.Option("--public-docs/--no-public-docs", show_default=False, help="Serve /docs and /openapi.json without the API key (default: no; env FEATURIZER_PUBLIC_DOCS).")] = None,
    weights: Annotated[list[str] | None, typer.Option(help="NAME=SOURCE: hub id, local folder or state-dict file (repeatable) (env FEATURIZER_WEIGHTS=a=src,b=src).")] = None,
    device: Annotated[str | None, typer.Option(show_default=False, help="cpu, cuda or auto (default: cpu; env FEATURIZER_DEVICE).")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Override the extractors' batch size (env FEATURIZER_BATCH_SIZE).")] = None,
    precision: Annotated[str | None, typer.Option(show_default=False, help="auto (default: bf16 where the device computes it natively, else fp32), fp32, bf16 or fp16, for the models that take it (env FEATURIZER_PRECISION).")] = None,
    option: Annotated[list[str] | None, typer.Option("--option", help="NAME.KEY=VALUE: a typed extractor option (repeatable) (env FEATURIZER_OPTIONS=a.k=v,b.k=v).")] = None,
    temp_dir: Annotated[Path | None, typer.Option(help="Where uploads are spooled (default: the system temp dir; env FEATURIZER_TEMP_DIR).")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes (each loads its own models).")] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Serve features over HTTP (FastAPI under uvicorn); the API is in docs/http.md.

    Options not given come from FEATURIZER_* environment variables, then the defaults.
    """
    import os

    try:
        extras.require("serve", "featurizer serve")
    except FeaturizerError as e:
        fail(e)
    import uvicorn

    from ..extraction.job import parse_options, parse_weights
    from ..models.registry import parse_model_list
    from ..service import Settings, create_app

    try:
        settings = Settings.from_env(
            models=parse_model_list(models) if models is not None else None,
            allowed_models=parse_model_list(allowed_models) if allowed_models is not None else None,
            weights=parse_weights(weights) or None, device=device, batch_size=batch_size,
            precision=precision, options=parse_options(option) or None,
            max_upload_mb=max_upload_mb, max_concurrency=max_concurrency, max_queue=max_queue,
            queue_timeout=queue_timeout, api_key=api_key, public_docs=public_docs, temp_dir=temp_dir)
        parse_model_list(settings.models)
        if settings.allowed_models is not None:
            parse_model_list(settings.allowed_models)
        settings.runtime().check(None)
    except FeaturizerError as e:
        fail(e)
    except ValueError as e:  # pydantic: a bad option value
        errs = getattr(e, "errors", lambda: [])()
        fail(FeaturizerError("featurizer serve", "; ".join(
            f"--{'-'.join(str(x) for x in er['loc']).replace('_', '-')}: {er['msg']}" for er in errs) or str(e)))
    if not settings.api_key and host not in ("127.0.0.1", "localhost", "::1"):
        say.warning(io.err, f"serving on {host} without an API key (--api-key or FEATURIZER_API_KEY)")
    if workers > 1:  # worker processes rebuild the settings from the environment
        os.environ.update(settings.to_env())
        uvicorn.run("featurizer.service:app_from_env", factory=True, host=host, port=port,
                    workers=workers, log_level=log_level)
    else:
        service = create_app(settings)
        try:  # load the default models now: a missing weight is one clear line, not a traceback
            with io.err.status(f"loading {', '.join(settings.models)}"):
                for name in settings.models:
                    service.state.cache.get(name)
        except FeaturizerError as e:
            fail(e)
        uvicorn.run(service, host=host, port=port, log_level=log_level)
