"""The error base both packages report to users: what was wrong (``subject``), why, and what to do.

Raised where a problem is understood, reported once at the edge (CLI, HTTP), on one line.
"""

from __future__ import annotations


class InputError(Exception):
    """A problem with something the user gave: a file, a track, an option, a store.

    ``subject`` names the input, ``reason`` says what is wrong, ``hint`` what to do about it.
    """

    def __init__(self, subject: object, reason: str, hint: str | None = None):
        self.subject = str(subject)
        self.reason = reason
        self.hint = hint
        msg = f"{self.subject}: {reason}"
        if hint:
            msg += f" ({hint})"
        super().__init__(msg)

    def __reduce__(self) -> tuple:
        """Pickled with its parts (Ray and worker processes send errors between processes)."""
        return self.__class__, (self.subject, self.reason, self.hint)


class StoreError(InputError):
    """A store, track or array that is missing or malformed."""


class FormatError(StoreError):
    """A store written in a format (or ``format_version``) this reader does not know."""


class LabelError(InputError):
    """An annotation file or folder that cannot be used."""
