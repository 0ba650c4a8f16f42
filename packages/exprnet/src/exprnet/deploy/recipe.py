"""A bundle's feature recipe: exactly how each feature its members read was extracted.

Per feature: the extractor and its recipe version, the weights (id, sha256, kind), layer, typed
options, precision, timing, the stored dtype and, for visual features, where the training crops
came from (the store's ``faces`` provenance); with the registry's licence and what the weights
were trained on, for the model card. Built from the store the members were trained on, after
checking that every member's recorded feature identity is the store's.

At inference the recipe becomes ``featurizer.extract``'s settings (each model's
recorded options and precision) and checks each loaded extractor against itself: a weights file
whose sha256 differs is refused, naming both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from featurizer.core.identity import describe_identity, feature_identity
from featurizer.core.store import FeatureStore

from ..errors import ConfigError, DataError

DEFAULT_DETECTOR = "retinaface"
DEFAULT_DETECT_EVERY = 10  # featurizer.faces.DEFAULT_DETECT_EVERY (the tests check they agree)
# store attributes that say how a feature was made (the rest is bookkeeping: created, n_frames ...)
RECIPE_KEYS = ("extractor", "modality", "dim", "recipe_version", "weights_id", "weights_sha256", "weights_kind",
               "layer", "timing", "options", "precision", "dtype", "faces")
STANDIN_KINDS = ("imagenet-standin", "public-standin", "random")


@dataclass(frozen=True)
class FeatureRecipe:
    name: str  # the model name as stored (``hog``, ``hubert:last``)
    attrs: dict[str, Any]  # RECIPE_KEYS as the store recorded them
    about: dict[str, Any] = field(default_factory=dict)  # registry: licence, trained_on, description

    @property
    def identity(self) -> dict[str, Any]:
        return feature_identity(self.attrs)

    @property
    def modality(self) -> str:
        return str(self.attrs.get("modality", "unknown"))

    @property
    def dim(self) -> int:
        return int(self.attrs["dim"])

    @property
    def standin(self) -> bool:
        return self.attrs.get("weights_kind") in STANDIN_KINDS

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "attrs": self.attrs, "about": self.about}


@dataclass(frozen=True)
class Recipe:
    features: tuple[FeatureRecipe, ...]
    detector: str = DEFAULT_DETECTOR  # the face detector inference runs (training crops may have been given)
    detect_every: int = DEFAULT_DETECT_EVERY  # ... every this many frames, faces followed in between

    @property
    def models(self) -> list[str]:
        return [f.name for f in self.features]

    def feature(self, name: str) -> FeatureRecipe:
        return next(f for f in self.features if f.name == name)

    def needs(self, modality: str) -> bool:
        return any(f.modality == modality for f in self.features)

    @property
    def dtype(self) -> str:
        """The stored dtype of the members' features (float16 unless every one was float32)."""
        return "float32" if all(f.attrs.get("dtype") == "float32" for f in self.features) else "float16"

    def options(self) -> dict[str, dict[str, Any]]:
        """featurizer ``--option`` entries that reproduce each model: its recorded options and
        precision (for the models that take one)."""
        from featurizer import describe_model

        out: dict[str, dict[str, Any]] = {}
        for f in self.features:
            spec = describe_model(f.name)
            opts = {k: v for k, v in (f.attrs.get("options") or {}).items() if spec.takes(k)}
            if spec.takes("precision") and f.attrs.get("precision"):
                opts["precision"] = f.attrs["precision"]
            if opts:
                out[f.name] = opts
        return out

    def local_weights(self) -> dict[str, str]:
        """``--weights`` defaults: the user-given weights the training store was made with, where
        that file or folder is on this machine (checked by sha256 when loaded, as any other)."""
        from pathlib import Path

        out = {}
        for f in self.features:
            wid = f.attrs.get("weights_id")
            if f.attrs.get("weights_kind") == "user" and wid and Path(str(wid)).exists():
                out[f.name.partition(":")[0]] = str(wid)
        return out

    def check_extractor(self, ex: Any, weights: Mapping[str, str]) -> None:
        """Refuse an extractor that would make other rows than the recipe's (weights first)."""
        want = self.feature(ex.name)
        got = feature_identity({"options": want.attrs.get("options"), **ex.provenance()})
        if got == want.identity:
            return
        given = weights.get(ex.name, weights.get(ex.name.partition(":")[0]))
        sha_w, sha_g = want.attrs.get("weights_sha256"), got.get("weights_sha256")
        if sha_w and sha_g != sha_w:
            raise ConfigError(f"--weights {ex.name}={given or '(default)'}",
                              f"weights sha256 {str(sha_g)[:16]} differ from the bundle's recipe "
                              f"(sha256 {str(sha_w)[:16]}, weights id {want.attrs.get('weights_id')})",
                              f"pass the file the bundle was made with: --weights {ex.name}=PATH")
        raise ConfigError(f"model {ex.name}", f"would make rows other than the bundle's recipe (loaded: "
                          f"{describe_identity(got)}; recipe: {describe_identity(want.identity)})",
                          "use the featurizer version and --weights the bundle was made with")

    def to_dict(self) -> dict[str, Any]:
        return {"detector": self.detector, "detect_every": self.detect_every,
                "features": [f.to_dict() for f in self.features]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "recipe.json") -> Recipe:
        try:
            feats = tuple(FeatureRecipe(f["name"], dict(f["attrs"]), dict(f.get("about") or {}))
                          for f in d["features"])
            return cls(feats, str(d.get("detector") or DEFAULT_DETECTOR),
                       int(d.get("detect_every") or DEFAULT_DETECT_EVERY))
        except (KeyError, TypeError) as e:
            raise ConfigError(where, f"is not a feature recipe (missing {e})", "rebuild the bundle") from None


def _about(name: str) -> dict[str, Any]:
    """What the registry says of ``name`` (licence, trained on, description), if it is registered."""
    try:
        from featurizer import describe_model
    except ImportError:  # featurizer without its extraction stack: the recipe still records the store
        return {}
    try:
        spec = describe_model(name)
    except Exception:  # noqa: BLE001 - an imported or unregistered feature: nothing to add
        return {}
    return {"licence": spec.licence, "trained_on": spec.trained_on, "description": spec.description,
            "default_weights": spec.weights_source}


def recipe_from_store(store: str, features: Sequence[str], tracks: Sequence[str],
                      recorded: Mapping[str, Mapping[str, Mapping[str, Any]] | None],
                      detector: str | None = None) -> Recipe:
    """The recipe of ``features`` as stored for ``tracks`` (all must agree), checked against each
    member's recorded identities (``recorded``: member name -> its features.json)."""
    reader = FeatureStore(store, mode="r")
    out = []
    for name in features:
        infos = [i for t in tracks if reader.has_track(t) and (i := reader.feature(t, name)) is not None]
        if not infos:
            raise DataError(f"{store}: feature {name!r}", "is on none of the members' tracks",
                            "give the store the members were trained on (--store)")
        attrs = {k: infos[0].attrs[k] for k in RECIPE_KEYS if infos[0].attrs.get(k) is not None}
        attrs.setdefault("dim", infos[0].dim)
        attrs["dtype"] = infos[0].dtype
        for member, rec in recorded.items():
            ident = ((rec or {}).get(name) or {}).get("identity")
            if ident is not None and dict(ident) != feature_identity(attrs):
                raise DataError(f"{store}: feature {name!r}", f"was made differently from the one {member} was "
                                f"trained on (store: {describe_identity(feature_identity(attrs))}; "
                                f"run: {describe_identity(dict(ident))})",
                                "bundle runs with the store they were trained on")
        out.append(FeatureRecipe(name, attrs, _about(attrs.get("extractor", name))))
    detected = [f.attrs["faces"] for f in out if isinstance(f.attrs.get("faces"), dict)
                and f.attrs["faces"].get("source") == "detected"]
    det = detector or next((f.get("detector") for f in detected), None)
    every = next((f["detect_every"] for f in detected if f.get("detect_every")), None)
    return Recipe(tuple(out), det or DEFAULT_DETECTOR, int(every or DEFAULT_DETECT_EVERY))
