"""The extractor registry: one decorator registers a factory (timm-style).

``list_models()`` and ``create_extractor()`` are the whole public surface. Extractors in other
packages register through the entry-point group ``featurizer.extractors``: each entry point names
a module (imported for its ``@register`` side effects) or an :class:`ExtractorSpec`.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import numpy as np

from .errors import UnknownModelError

Modality = Literal["audio", "visual"]


@dataclass(frozen=True)
class Timing:
    """Where an extractor's rows sit in time.

    ``kind``:
      - ``"hop"``: audio rows every ``hop`` seconds, row k centred at ``offset + k * hop``
        relative to the start of the audio it was given; ``window`` is the analysis window.
      - ``"frame_window"``: audio; one row per label frame, embedding ``window`` seconds centred on it.
      - ``"per_frame"``: visual; one row per face crop, i.e. per label frame.
    """

    kind: Literal["hop", "frame_window", "per_frame"]
    hop: float | None = None
    window: float | None = None
    offset: float | None = None

    def centres(self, n_rows: int) -> np.ndarray:
        """Centres (seconds from audio start) of ``n_rows`` rows of a ``hop`` extractor."""
        if self.kind != "hop":
            raise ValueError(f"timing kind {self.kind!r} has no fixed row grid")
        return self.offset + self.hop * np.arange(n_rows, dtype=np.float64)

    def describe(self) -> str:
        if self.kind == "hop":
            return f"hop {self.hop * 1000:g} ms, window {self.window * 1000:g} ms"
        if self.kind == "frame_window":
            return f"window {self.window:g} s per frame"
        return "per frame"

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass
class Extractor:
    """A loaded extractor. Audio ones implement ``extract_audio``, visual ones ``extract_faces``."""

    name: str
    modality: Modality
    dim: int
    timing: Timing
    recipe_version: str
    weights_id: str | None = None
    weights_sha256: str | None = None
    layer: str | None = None
    batch_size: int = 32
    # Longest audio (seconds) one forward may take; None: the whole track at once.
    max_chunk_seconds: float | None = None
    # Seconds of context on each side of a chunk so its kept rows equal an unchunked run.
    chunk_context_seconds: float = 0.0

    def extract_audio(self, waves: Sequence[np.ndarray], sample_rate: int) -> list[np.ndarray]:
        """Batch of mono float32 waves -> list of (n_rows_i, dim) float32 (``hop`` timing)."""
        raise NotImplementedError(f"{self.name} is not an audio extractor")

    def extract_windows(
        self, wave: np.ndarray, sample_rate: int, centres: np.ndarray
    ) -> np.ndarray:
        """One mono wave and frame centres (seconds) -> (len(centres), dim) (``frame_window``)."""
        raise NotImplementedError(f"{self.name} does not embed windows")

    def extract_faces(self, crops: np.ndarray) -> np.ndarray:
        """(B, H, W, 3) uint8 RGB face crops -> (B, dim) float32."""
        raise NotImplementedError(f"{self.name} is not a visual extractor")

    def provenance(self) -> dict[str, Any]:
        return {
            "extractor": self.name,
            "modality": self.modality,
            "dim": self.dim,
            "recipe_version": self.recipe_version,
            "weights_id": self.weights_id,
            "weights_sha256": self.weights_sha256,
            "layer": self.layer,
            "timing": self.timing.as_dict(),
        }


Factory = Callable[..., Extractor]
TrainedOn = Literal["imagenet", "faces", "affect", "speech", "audio"]
WeightsKind = Literal["none", "public", "imagenet-standin", "user", "random"]


@dataclass(frozen=True)
class Option:
    """One typed option an extractor takes (``--option NAME.KEY=VALUE``, or a common flag)."""

    name: str
    type: type = str
    help: str = ""
    choices: tuple[Any, ...] | None = None

    def parse(self, value: Any, extractor: str) -> Any:
        """``value`` (a string from the command line, or already typed) as this option's type."""
        subject = f"{extractor} option {self.name}={value!r}"
        try:
            if self.type is bool and isinstance(value, str):
                low = value.strip().lower()
                if low not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                    raise ValueError(value)
                v: Any = low in ("1", "true", "yes", "on")
            else:
                v = value if isinstance(value, self.type) and not isinstance(value, bool) else self.type(value)
        except (TypeError, ValueError):
            raise UnknownModelError(subject, f"is not a valid {self.type.__name__}",
                                    self.help or "see `featurizer models --json`") from None
        if self.choices is not None and v not in self.choices:
            raise UnknownModelError(subject, f"must be one of {', '.join(map(str, self.choices))}")
        return v

    def row(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type.__name__, "help": self.help,
                **({"choices": list(self.choices)} if self.choices else {})}


# Options most deep extractors take; the CLI's --weights/--device/--batch-size/--precision set them.
WEIGHTS = Option("weights", str, "weights SOURCE: file, folder, hub id, URL, or random")
DEVICE = Option("device", str, "cpu, cuda, cuda:N or auto")
BATCH_SIZE = Option("batch_size", int, "crops or audio chunks per forward")
PRECISION = Option("precision", str, "fp32, bf16 or fp16 (fp16/bf16 on CUDA; bf16 on CPU)",
                   choices=("fp32", "bf16", "fp16"))
DEEP_OPTIONS = (WEIGHTS, DEVICE, BATCH_SIZE, PRECISION)


@dataclass(frozen=True)
class ExtractorSpec:
    """What ``featurizer models`` shows without loading anything (no model library is imported)."""

    name: str
    modality: Modality
    dim: int
    timing: Timing
    weights_source: str
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

    def option(self, name: str) -> Option | None:
        return next((o for o in self.options if o.name == name), None)

    def takes(self, name: str) -> bool:
        return self.option(name) is not None

    def row(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "modality": self.modality,
            "dim": self.dim,
            "timing": self.timing.describe(),
            "default_weights": self.weights_source,
            "weights": self.weights_source,
            "trained_on": self.trained_on,
            "licence": self.licence,
            "paper_weights_public": self.paper_weights_public,
            "standin": self.standin,
            "needs_weights": self.needs_weights,
            "recipe_version": self.recipe_version,
            "options": [o.row() for o in self.options],
            "description": self.description,
        }


_REGISTRY: dict[str, ExtractorSpec] = {}
_BUILTIN_MODULES = (
    "featurizer.extractors.opensmile_lld",
    "featurizer.extractors.fbank",
    "featurizer.extractors.hog",
    "featurizer.extractors.hf_audio",
    "featurizer.extractors.ecapa",
    "featurizer.extractors.vggish",
    "featurizer.extractors.timm_visual",
    "featurizer.extractors.iresnet",
)
_OPTIONAL_BUILTIN_MODULES: tuple[str, ...] = ()
_loaded = False


def register(
    name: str,
    *,
    modality: Modality,
    dim: int,
    timing: Timing,
    weights_source: str = "none (no weights)",
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


def list_models(modality: Modality | None = None) -> list[ExtractorSpec]:
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


def check_options(spec: ExtractorSpec, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` typed by the spec's declarations; one it does not declare is an error."""
    out = {}
    for k, v in options.items():
        opt = spec.option(k)
        if opt is None:
            takes = ", ".join(o.name for o in spec.options) or "no options"
            raise UnknownModelError(f"{spec.name} option {k}", f"{spec.name} takes no option {k!r}",
                                    f"it takes: {takes}")
        out[k] = opt.parse(v, spec.name)
    return out


def create_extractor(name: str, **options: Any) -> Extractor:
    """Build the extractor ``name``; ``options`` (``weights``, ``device``, ``layer`` ...) must be
    ones it declares; None values are left out."""
    spec = get_spec(name)
    options = check_options(spec, {k: v for k, v in options.items() if v is not None})
    base, sep, value = name.partition(":")
    if sep and spec.variant_option:
        options[spec.variant_option] = value
    ex = spec.factory(**options)
    if sep:
        ex.name = name
    return ex


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
