"""featurizer: per-label-frame audio and visual features of videos, in a Zarr store.

From Python (each name is imported on first use, so ``import featurizer`` loads no model
library; see :mod:`featurizer.api`)::

    import featurizer

    featurizer.list_models("*face*")                        # registered extractor names
    ex = featurizer.create_extractor("hubert:last", weights="./hubert-base")
    summary = featurizer.extract("videos/", "egemaps,fbank", "features.zarr")
    store = featurizer.open_store("features.zarr")           # FeatureStore, read-only
"""

from typing import TYPE_CHECKING

from .core.lazy import lazy_attributes

__version__ = '0.1.0'

# What each public name is imported from, on first use (PEP 562).
_NAMES = {
    ".api": ("ExtractSummary", "create_extractor", "extract", "list_models", "open_store"),
    ".core.store": ("FeatureStore",),
    ".errors": ("FeaturizerError", "UnknownModelError", "WeightsError"),
}
__all__ = ["ExtractSummary", "FeatureStore", "FeaturizerError", "UnknownModelError", "WeightsError",
           "create_extractor", "extract", "list_models", "open_store"]


__getattr__, __dir__ = lazy_attributes(__name__, _NAMES, globals())

if TYPE_CHECKING:
    from .api import ExtractSummary, create_extractor, extract, list_models, open_store
    from .core.store import FeatureStore
    from .errors import FeaturizerError, UnknownModelError, WeightsError
