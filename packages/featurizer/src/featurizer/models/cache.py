"""The service's loaded models: built once per process, shared by every request."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from .registry import Extractor
from .runtime import Runtime


class ModelCache:
    """Extractors loaded once per process and shared by every request (thread-safe); a model
    source for :class:`~featurizer.extraction.executors.LocalExecutor`.

    Two requests that need the same unloaded model load it once: a per-name lock; a failed load
    is not cached, so fixing the weights needs no restart.
    """

    def __init__(self, runtime: Runtime | None = None):
        self.runtime = runtime or Runtime()
        self._models: dict[str, Extractor] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    @classmethod
    def for_models(cls, models: Sequence[str], *, weights: Mapping[str, str] | None = None,
                   device: str | None = None, batch_size: int | None = None, precision: str | None = None,
                   options: Mapping[str, Mapping[str, Any]] | None = None) -> ModelCache:
        """A cache that builds ``models`` with these settings, checked as ``featurizer extract``
        checks its flags (settings that none of ``models`` takes are left out)."""
        runtime = Runtime(dict(weights or {}), device, batch_size, precision, dict(options or {}))
        runtime = runtime.serving(list(models))
        runtime.check(list(models))
        return cls(runtime)

    def get(self, name: str) -> Extractor:
        with self._lock:
            if name in self._models:
                return self._models[name]
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:
            with self._lock:
                if name in self._models:
                    return self._models[name]
            ex = self.runtime.create(name)
            with self._lock:
                self._models[name] = ex
            return ex

    def extractors(self, names: Sequence[str], runtime: Runtime) -> list[Extractor]:
        for n in names:
            if runtime.kwargs(n) != self.runtime.kwargs(n):
                raise ValueError(f"{n}: this cache builds models with the server's options only")
        return [self.get(n) for n in names]

    def loaded(self) -> list[str]:
        with self._lock:
            return list(self._models)
