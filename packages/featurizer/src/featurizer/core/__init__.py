"""featurizer's import-light core (numpy and zarr; torch only inside ``resolve_device``).

It owns what featurizer and exprnet share, once:

- :mod:`.store`: the Zarr store format (layout, attributes, ``format_version``, provenance and
  feature identity, present masks), read and written;
- :mod:`.annotations`: the Aff-Wild2 annotation reader (and writer);
- :mod:`.classes`: the eight expression classes;
- :mod:`.errors`: the error base both CLIs report on one line (:mod:`.console`);
- :mod:`.ahead` (the one prefetcher), :mod:`.device` (the one device rule) and :mod:`.files`
  (atomic file writes).

exprnet imports this package and nothing else of featurizer.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

# What each name is imported from, on first use (PEP 562): importing the core (which every
# featurizer module does through its errors) does not import zarr until the store is used, so
# `featurizer extract missing.mp4` answers without paying for it.
_NAMES = {
    ".annotations": ("AnnotationFile", "find_annotations", "read_annotation", "source_video",
                     "track_side", "write_annotation"),
    ".classes": ("EXPR_CLASSES", "HEADER", "N_CLASSES"),
    ".errors": ("FormatError", "InputError", "LabelError", "StoreError"),
    ".store": ("FORMAT_VERSION", "Feature", "FeatureInfo", "FeatureStore", "describe_identity",
               "feature_identity"),
}
_WHERE = {name: module for module, names in _NAMES.items() for name in names}
__all__ = [
    "EXPR_CLASSES", "FORMAT_VERSION", "HEADER", "N_CLASSES", "AnnotationFile", "Feature", "FeatureInfo",
    "FeatureStore", "FormatError", "InputError", "LabelError", "StoreError", "describe_identity",
    "feature_identity", "find_annotations", "read_annotation", "source_video", "track_side",
    "write_annotation",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(_WHERE[name], __name__), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from .annotations import (
        AnnotationFile,
        find_annotations,
        read_annotation,
        source_video,
        track_side,
        write_annotation,
    )
    from .classes import EXPR_CLASSES, HEADER, N_CLASSES
    from .errors import FormatError, InputError, LabelError, StoreError
    from .store import (
        FORMAT_VERSION,
        Feature,
        FeatureInfo,
        FeatureStore,
        describe_identity,
        feature_identity,
    )
