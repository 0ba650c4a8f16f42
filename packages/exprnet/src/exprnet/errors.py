"""Errors that name the input at fault; the CLI reports them once, without a traceback."""

from __future__ import annotations


class ExprnetError(Exception):
    """Base class: ``subject`` names the input (track, file, option), ``hint`` says what to do."""

    def __init__(self, subject: str, reason: str, hint: str | None = None):
        self.subject = str(subject)
        self.reason = reason
        self.hint = hint
        msg = f"{self.subject}: {reason}"
        if hint:
            msg += f" ({hint})"
        super().__init__(msg)


class ConfigError(ExprnetError):
    """A configuration key, value, preset or flag that is not valid."""


class LabelError(ExprnetError):
    """An annotation file or folder that cannot be used."""


class DataError(ExprnetError):
    """Store content that does not fit the annotations or the config (missing, short, NaN)."""


class TrainingError(ExprnetError):
    """Training that cannot go on (a non-finite loss)."""


class RunError(ExprnetError):
    """A run folder that is missing, incomplete or already used."""


class ExprnetWarning(UserWarning):
    """Something skipped or suspicious, always naming the track or file."""
