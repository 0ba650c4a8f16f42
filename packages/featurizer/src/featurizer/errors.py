"""Errors that name the input at fault and what to do about it.

The base, :class:`FeaturizerError`, is the core's :class:`~featurizer.core.errors.InputError`
(shared with exprnet); store and annotation errors come from the core too.
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
