"""Service settings: one pydantic model, filled by ``featurizer serve`` or from FEATURIZER_* variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field, field_validator

from ..extraction.job import parse_options, parse_pairs
from ..models.registry import OFFLINE_MODELS
from ..models.runtime import Runtime

if TYPE_CHECKING:
    from ..models.registry import ExtractorSpec

DEFAULT_MODELS = OFFLINE_MODELS
ENV_PREFIX = "FEATURIZER_"


class Settings(BaseModel):
    """What one service process needs; every field has a ``FEATURIZER_<NAME>`` variable."""

    models: list[str] = Field(
        default_factory=lambda: list(DEFAULT_MODELS),
        description="Loaded at start-up, and used by requests that name no models.")
    allowed_models: list[str] | None = Field(
        None, description="The models requests may name (the default models are always allowed); "
                          "unset: every registered model whose weights are on this machine or that "
                          "needs none. The OpenAPI schema lists them.")
    weights: dict[str, str] = Field(
        default_factory=dict, description="Model name -> weights source (hub id, folder or file).")
    device: str = Field("cpu", description="cpu, cuda or auto (passed to the extractors).")
    batch_size: int | None = Field(None, ge=1, description="Override the extractors' batch size.")
    precision: Literal["auto", "fp32", "bf16", "fp16"] | None = Field(
        None, description="auto (default: bf16 where the device computes it natively, else fp32), "
                          "fp32, bf16 or fp16, for the extractors that take it.")
    options: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Typed extractor options: model -> {key: value} "
                                          "(`--option NAME.KEY=VALUE`).")
    max_upload_mb: float = Field(200.0, gt=0, description="Largest accepted upload (MiB); 413 past it.")
    max_concurrency: int = Field(
        default_factory=lambda: max(1, os.cpu_count() or 1), ge=1,
        description="Requests computed at once (also the size of the worker thread pool).")
    max_queue: int = Field(64, ge=0, description="Requests that may wait for a free slot; more get 503.")
    queue_timeout: float = Field(
        60.0, ge=0, description="Seconds a request waits for a free slot before 503 + Retry-After.")
    torch_threads: int | None = Field(
        None, ge=1, description="torch intra-op threads per process (default: CPU count divided by "
                                "max_concurrency, at least 1: concurrent requests do not "
                                "oversubscribe the cores).")
    api_key: str | None = Field(None, description="When set, every route but /healthz needs it.")
    public_docs: bool = Field(False, description="Serve /docs and /openapi.json without the API key.")
    temp_dir: Path | None = Field(None, description="Where uploads are spooled (default: the system's).")
    max_frames: int = Field(200_000, ge=1, description="Most label rows one request may ask for.")
    max_field_kb: int = Field(
        4096, ge=1, description="Largest non-file form field (the annotation text), KiB.")

    @field_validator("models", "allowed_models", mode="before")
    @classmethod
    def _split_models(cls, v: object) -> object:
        if isinstance(v, str):
            return [m.strip() for m in v.split(",") if m.strip()]
        return v

    @field_validator("api_key", mode="before")
    @classmethod
    def _empty_key_is_none(cls, v: object) -> object:
        return None if isinstance(v, str) and not v.strip() else v

    def servable(self) -> list[str]:
        """The model names requests may give, as the OpenAPI schema lists them: ``allowed_models``
        and the default models; unset: every registered model whose weights are on this machine
        (given with ``weights``, or in the hub or torch cache) or that needs none, and the
        default models. Read from the file system once (no network, no model library)."""
        if self.allowed_models is not None:
            return list(dict.fromkeys([*self.allowed_models, *self.models]))
        from ..models.registry import specs
        from ..models.weights.sources import is_present

        def on_hand(spec: ExtractorSpec) -> bool:
            given = self.weights.get(spec.name)
            return is_present(given) if given else not spec.needs_weights or is_present(spec.weights_source)

        return list(dict.fromkeys([*(s.name for s in specs() if on_hand(s)), *self.models]))

    def runtime(self) -> Runtime:
        """How this process builds its models (every request shares them)."""
        return Runtime(dict(self.weights), self.device, self.batch_size, self.precision,
                       {k: dict(v) for k, v in self.options.items()})

    @property
    def intra_op_threads(self) -> int:
        return self.torch_threads or max(1, (os.cpu_count() or 1) // self.max_concurrency)

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Settings from ``FEATURIZER_MODELS=egemaps,fbank``, ``FEATURIZER_WEIGHTS=a=src,b=src`` ..."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for name in cls.model_fields:
            raw = env.get(ENV_PREFIX + name.upper())
            if raw is None:
                continue
            items = [p for p in raw.split(",") if p.strip()]
            if name == "weights":
                values[name] = parse_pairs(items, ENV_PREFIX + "WEIGHTS", "hubert=./hubert-base")
            elif name == "options":
                values[name] = parse_options(items)
            else:
                values[name] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.model_validate(values)

    def to_env(self) -> dict[str, str]:
        """The variables that make :meth:`from_env` rebuild these settings (for worker processes)."""
        out: dict[str, str] = {}
        for name, value in self.model_dump().items():
            if value is None:
                continue
            if name in ("models", "allowed_models"):
                value = ",".join(value)
            elif name == "weights":
                value = ",".join(f"{k}={v}" for k, v in value.items())
            elif name == "options":
                value = ",".join(f"{m}.{k}={v}" for m, kv in value.items() for k, v in kv.items())
            out[ENV_PREFIX + name.upper()] = str(value)
        return out

