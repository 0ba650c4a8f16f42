"""Extraction's errors (media, faces, models, weights), each naming the input at fault and what to do.

Two modules because of the layering: the base, :class:`FeaturizerError`, is the core's
:class:`~featurizer.core.errors.InputError`, with the store and annotation errors, since exprnet
shares them and imports only the core; the kinds here concern extraction alone.
"""

from __future__ import annotations

from .core.errors import FormatError, InputError, LabelError, StoreError

FeaturizerError = InputError

__all__ = ["FaceError", "FeaturizerError", "FormatError", "LabelError", "MediaError", "NoAudioError",
           "StoreError", "UnknownModelError", "WeightsError"]


class MediaError(FeaturizerError):
    """A file that cannot be decoded, is empty, or lacks the stream we need."""


class NoAudioError(MediaError):
    """The container has no audio stream."""


class FaceError(FeaturizerError):
    """Face crops that are missing or unreadable."""


class UnknownModelError(FeaturizerError):
    """A model name (or an option of one) that is not registered."""


class WeightsError(FeaturizerError):
    """Weights that cannot be found or loaded."""
