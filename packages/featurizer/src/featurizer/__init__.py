"""featurizer: per-label-frame audio and visual features of videos, in a Zarr store.

From Python (each name is imported on first use, so ``import featurizer`` loads no model
library; see :mod:`featurizer.api`)::

    import featurizer

    featurizer.list_models("*face*")                        # registered extractor names
    featurizer.describe_model("hubert").dim                 # what one declares (nothing loads)
    ex = featurizer.create_extractor("hubert:last", weights="./hubert-base")
    summary = featurizer.extract("videos/", "egemaps,fbank", "features.zarr")
    store = featurizer.open_store("features.zarr")           # FeatureStore, read-only

The package, by stage (each subpackage's docstring says what it owns and may import):
``core`` (the store contract: numpy + zarr) <- ``media`` (decode, timeline, inputs, encode) <-
``models`` (extractor interface, registry, runtime, weights, families) and ``faces`` (detect,
align, track) <- ``extraction`` (job, pipeline, executors, write, compute) <- ``service`` (HTTP)
and ``cli``; ``demo`` writes synthetic corpora. The names below are the public surface: other
packages (exprnet's deployment layer among them) use these, not the modules.
"""

from typing import TYPE_CHECKING

from .core.lazy import lazy_attributes

__version__ = '0.1.0'

# What each public name is imported from, on first use (PEP 562).
_NAMES = {
    ".api": ("ExtractSummary", "create_extractor", "describe_model", "extract", "list_models", "open_store"),
    ".core.store": ("FeatureStore",),
    ".errors": ("FeaturizerError", "MediaError", "UnknownModelError", "WeightsError"),
    ".extras": ("missing_extras",),
    # what programs that run many jobs on loaded models use (a server, exprnet infer)
    ".models.cache": ("ModelCache",),
    ".extraction.job": ("parse_weights",),
    ".media.decode": ("find_media", "probe_media", "probe_streams"),
    ".media.encode": ("encode_video",),
    ".media.stream": ("stream_media",),
    ".faces": ("CroppedAlignedFaces", "DetectedFaces", "FaceSource", "FaceTracker", "check_detect_every",
               "load_detector", "track_names"),
    ".progress": ("Collected", "NoProgress", "Progress", "RichProgress"),
}
__all__ = ["Collected", "CroppedAlignedFaces", "DetectedFaces", "ExtractSummary", "FaceSource", "FaceTracker", "FeatureStore",
           "FeaturizerError", "MediaError", "ModelCache", "NoProgress", "Progress", "RichProgress",
           "UnknownModelError", "WeightsError", "check_detect_every", "create_extractor", "describe_model", "encode_video", "extract",
           "find_media", "list_models", "load_detector", "missing_extras", "open_store", "parse_weights",
           "probe_media", "probe_streams", "stream_media", "track_names"]


__getattr__, __dir__ = lazy_attributes(__name__, _NAMES, globals())

if TYPE_CHECKING:
    from .api import (
        ExtractSummary,
        create_extractor,
        describe_model,
        extract,
        list_models,
        open_store,
    )
    from .core.store import FeatureStore
    from .errors import FeaturizerError, MediaError, UnknownModelError, WeightsError
    from .extraction.job import parse_weights
    from .extras import missing_extras
    from .faces import (
        CroppedAlignedFaces,
        DetectedFaces,
        FaceSource,
        FaceTracker,
        check_detect_every,
        load_detector,
        track_names,
    )
    from .media.decode import find_media, probe_media, probe_streams
    from .media.encode import encode_video
    from .media.stream import stream_media
    from .models.cache import ModelCache
    from .progress import Collected, NoProgress, Progress, RichProgress
