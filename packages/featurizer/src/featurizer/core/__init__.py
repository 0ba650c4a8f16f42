"""featurizer's import-light core (numpy and zarr; torch only inside ``resolve_device``).

It owns what featurizer and exprnet share, once:

- :mod:`.store`: the Zarr store format (layout, attributes, ``format_version``, provenance and
  feature identity, present masks), read and written;
- :mod:`.annotations`: the Aff-Wild2 annotation reader (and writer);
- :mod:`.classes`: the eight expression classes;
- :mod:`.errors`: the error base both CLIs report on one line (:mod:`.console`);
- :mod:`.ahead` (the one prefetcher) and :mod:`.device` (the one device rule).

exprnet imports this package and nothing else of featurizer.
"""

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

__all__ = [
    "EXPR_CLASSES", "FORMAT_VERSION", "HEADER", "N_CLASSES", "AnnotationFile", "Feature", "FeatureInfo",
    "FeatureStore", "FormatError", "InputError", "LabelError", "StoreError", "describe_identity",
    "feature_identity", "find_annotations", "read_annotation", "source_video", "track_side",
    "write_annotation",
]
