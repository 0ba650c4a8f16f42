"""Errors that name the input at fault; the CLI reports them once, on one line, without a traceback.

The base is the core's :class:`~featurizer.core.errors.InputError` (shared with featurizer);
store and annotation problems raise the core's :class:`StoreError` and :class:`LabelError`.
"""

from __future__ import annotations

from featurizer.core.errors import FormatError, InputError, LabelError, StoreError

__all__ = ["BundleError", "ConfigError", "DataError", "ExprnetError", "ExprnetWarning", "FormatError", "InputError",
           "LabelError", "RunError", "StoreError", "TrainingError", "VideoError"]


class ExprnetError(InputError):
    """Base class: ``subject`` names the input (track, file, option), ``hint`` says what to do."""


class ConfigError(ExprnetError):
    """A configuration key, value, preset or flag that is not valid."""


class DataError(ExprnetError):
    """Store content that does not fit the annotations or the config (missing, short, NaN)."""


class TrainingError(ExprnetError):
    """Training that cannot go on (a non-finite loss)."""


class RunError(ExprnetError):
    """A run folder that is missing, incomplete or already used."""


class BundleError(ExprnetError):
    """A bundle that is missing, of an unknown format, altered, or inconsistent with its recipe."""


class VideoError(ExprnetError):
    """A video that ``exprnet infer`` cannot turn into expressions (no face, no audio the bundle
    needs); ``code`` names the kind for HTTP answers."""

    def __init__(self, subject: object, reason: str, hint: str | None = None, code: str = "processing_failed"):
        super().__init__(subject, reason, hint)
        self.code = code


class ExprnetWarning(UserWarning):
    """Something skipped or suspicious, always naming the track or file."""
