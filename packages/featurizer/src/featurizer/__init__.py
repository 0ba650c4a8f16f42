"""featurizer: per-label-frame audio and visual features of videos, in a Zarr store.

From Python (each name is imported on first use, so ``import featurizer`` loads no model
library; see :mod:`featurizer.api`)::

    import featurizer

    featurizer.list_models("*face*")                        # registered extractor names
    ex = featurizer.create_extractor("hubert:last", weights="./hubert-base")
    summary = featurizer.extract("videos/", "egemaps,fbank", "features.zarr")
    store = featurizer.open_store("features.zarr")           # FeatureStore, read-only
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = '0.1.0'

# What each public name is imported from, on first use (PEP 562).
_NAMES = {
    ".api": ("ExtractSummary", "create_extractor", "extract", "list_models", "open_store"),
    ".core.store": ("FeatureStore",),
    ".errors": ("FeaturizerError", "UnknownModelError", "WeightsError"),
}
_WHERE = {name: module for module, names in _NAMES.items() for name in names}
__all__ = ["ExtractSummary", "FeatureStore", "FeaturizerError", "UnknownModelError", "WeightsError",
           "create_extractor", "extract", "list_models", "open_store"]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(_WHERE[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:
    from .api import ExtractSummary, create_extractor, extract, list_models, open_store
    from .core.store import FeatureStore
    from .errors import FeaturizerError, UnknownModelError, WeightsError
