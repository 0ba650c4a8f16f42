"""featurizer's import-light core (numpy and zarr; torch only inside ``resolve_device``).

It owns what featurizer and exprnet share, once:

- :mod:`.store`: the Zarr store format (layout, attributes, ``format_version``, provenance and
  feature identity, present masks), read and written;
- :mod:`.annotations`: the Aff-Wild2 annotation reader (and writers), EXPR, VA and AU;
- :mod:`.classes`: the three tasks' label names (expression classes, valence/arousal, AUs);
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
    ".annotations": ("AnnotationFile", "TaskLabels", "find_annotations", "folder_task", "read_annotation",
                     "read_labels", "source_video", "task_of_header", "track_side", "write_annotation",
                     "write_au_annotation", "write_va_annotation"),
    ".classes": ("AU_HEADER", "AU_NAMES", "EXPR_CLASSES", "HEADER", "N_CLASSES", "TASKS", "VA_HEADER", "VA_NAMES"),
    ".errors": ("FormatError", "InputError", "LabelError", "StoreError"),
    ".store": ("FORMAT_VERSION", "Feature", "FeatureInfo", "FeatureStore", "describe_identity",
               "feature_identity"),
}
__all__ = [
    "AU_HEADER", "AU_NAMES", "EXPR_CLASSES", "FORMAT_VERSION", "HEADER", "N_CLASSES", "TASKS", "VA_HEADER",
    "VA_NAMES", "AnnotationFile", "Feature", "FeatureInfo", "FeatureStore", "FormatError", "InputError",
    "LabelError", "StoreError", "TaskLabels", "describe_identity", "feature_identity", "find_annotations",
    "folder_task", "read_annotation", "read_labels", "source_video", "task_of_header", "track_side",
    "write_annotation", "write_au_annotation", "write_va_annotation",
]


__getattr__, __dir__ = lazy_attributes(__name__, _NAMES, globals())

if TYPE_CHECKING:
    from .annotations import (
        AnnotationFile,
        TaskLabels,
        find_annotations,
        folder_task,
        read_annotation,
        read_labels,
        source_video,
        task_of_header,
        track_side,
        write_annotation,
        write_au_annotation,
        write_va_annotation,
    )
    from .classes import (
        AU_HEADER,
        AU_NAMES,
        EXPR_CLASSES,
        HEADER,
        N_CLASSES,
        TASKS,
        VA_HEADER,
        VA_NAMES,
    )
    from .errors import FormatError, InputError, LabelError, StoreError
    from .store import (
        FORMAT_VERSION,
        Feature,
        FeatureInfo,
        FeatureStore,
        describe_identity,
        feature_identity,
    )
