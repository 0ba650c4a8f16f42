"""Errors that name the input at fault and what to do about it."""

from __future__ import annotations


class FeaturizerError(Exception):
    """Base class: every error names the input it is about (``subject``) and a hint."""

    def __init__(self, subject: str, reason: str, hint: str | None = None):
        self.subject = str(subject)
        self.reason = reason
        self.hint = hint
        msg = f"{self.subject}: {reason}"
        if hint:
            msg += f" ({hint})"
        super().__init__(msg)


class MediaError(FeaturizerError):
    """A file that cannot be decoded, is empty, or lacks the stream we need."""


class NoAudioError(MediaError):
    """The container has no audio stream."""


class LabelError(FeaturizerError):
    """An annotation file that cannot be parsed."""


class FaceError(FeaturizerError):
    """Face crops that are missing or unreadable."""


class UnknownModelError(FeaturizerError):
    """A model name that is not registered."""


class WeightsError(FeaturizerError):
    """Weights that cannot be found or loaded."""


class StoreError(FeaturizerError):
    """A store, track or array that is missing or malformed."""
