"""featurizer's import-light core (numpy and zarr; torch only inside ``resolve_device``).

It owns what featurizer and exprnet share, once:

- :mod:`.store`: the Zarr store format (layout, attributes, ``format_version``, provenance and
  feature identity, present masks), read and written;
- :mod:`.annotations`: the Aff-Wild2 annotation reader (and writer);
- :mod:`.classes`: the eight expression classes;
- :mod:`.errors`: the error base both CLIs report on one line (:mod:`.console`);
- :mod:`.arrays` (how the store writes arrays), :mod:`.lazy` (names imported on first use),
  :mod:`.ahead` (the one prefetcher), :mod:`.device` (the one device rule) and :mod:`.files`
  (atomic file writes).

exprnet imports this package and nothing else of featurizer, outside its deployment layer
(exprnet.deploy: bundles on videos, infer, serve). May import: nothing else of featurizer.
"""

from typing import TYPE_CHECKING

from .lazy import lazy_attributes

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
__all__ = [
    "EXPR_CLASSES", "FORMAT_VERSION", "HEADER", "N_CLASSES", "AnnotationFile", "Feature", "FeatureInfo",
    "FeatureStore", "FormatError", "InputError", "LabelError", "StoreError", "describe_identity",
    "feature_identity", "find_annotations", "read_annotation", "source_video", "track_side",
    "write_annotation",
]


__getattr__, __dir__ = lazy_attributes(__name__, _NAMES, globals())

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
