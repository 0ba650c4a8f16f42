"""What one route's multipart form may hold, and so the largest body it can be.

A route declares its form: the file (at most ``--max-upload-mb``) and the text fields it takes,
each with its cap (the annotation ``FEATURIZER_MAX_FIELD_KB``, the others
:data:`SMALL_FIELD_BYTES`). Each part also carries a boundary line and its headers, and the
headers are capped too (:data:`PART_HEADER_BYTES`, room for a file name of
:data:`MAX_FILENAME_BYTES`). The sum is the largest body a valid request to the route can have
(:meth:`FormLimits.max_body`): a ``Content-Length`` above it is refused before the body is read
(so ``Expect: 100-continue`` never gets its ``100 Continue``), and a body that grows past it
while it streams in is refused there. Not a fixed margin: ``/v1/expressions`` (the file only)
allows about 1 KiB beside the file, ``/v1/features`` its fields' caps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .errors import ApiError

FILE_FIELD = "file"
TEXT_FIELDS = ("models", "dtype", "frames", "fps", "detect_every", "track", "format", "annotation")
SMALL_FIELD_BYTES = 64 * 1024  # every text field but the annotation
MAX_FILENAME_BYTES = 255  # the file part's file name, UTF-8 (as most file systems allow)
# One part's header lines (names, values, ": " and CRLF): Content-Disposition with the name and
# a file name of MAX_FILENAME_BYTES, even with every character escaped, and a Content-Type.
PART_HEADER_BYTES = 2 * MAX_FILENAME_BYTES + 514
CRLF = 2


def header_line_bytes(name: bytes, value: bytes) -> int:
    """What one header line counts against :data:`PART_HEADER_BYTES` (``name: value`` CRLF)."""
    return len(name) + len(value) + 2 + CRLF


@dataclass(frozen=True)
class FormLimits:
    """The caps of one route's form: the file's and each text field's (bytes)."""

    max_file: int
    max_annotation: int
    fields: tuple[str, ...] = TEXT_FIELDS

    @classmethod
    def of(cls, max_file: int, max_annotation: int, fields: Sequence[str]) -> FormLimits:
        return cls(max_file, max_annotation, tuple(fields))

    def field_cap(self, name: str) -> int:
        return self.max_annotation if name == "annotation" else SMALL_FIELD_BYTES

    def overhead(self, boundary: bytes) -> int:
        """The most bytes beside the file's: every part's boundary line and headers, the text
        fields' values, the closing boundary (and a leading CRLF some clients send)."""
        parts = 1 + len(self.fields)
        per_part = (CRLF + 2 + len(boundary) + CRLF) + PART_HEADER_BYTES + CRLF  # delimiter, headers, blank
        closing = CRLF + 2 + len(boundary) + 2 + CRLF
        return CRLF + parts * per_part + sum(self.field_cap(f) for f in self.fields) + closing

    def max_body(self, boundary: bytes) -> int:
        return self.max_file + self.overhead(boundary)

    # -- the refusals ---------------------------------------------------------------------------
    def file_too_large(self) -> ApiError:
        return ApiError(413, "payload_too_large", f"upload is larger than {_mib(self.max_file)}",
                        subject=FILE_FIELD, hint=_SHORTER)

    def length_too_large(self, length: int, boundary: bytes) -> ApiError:
        """``Content-Length: length`` is more than this form can be: refused before reading."""
        return ApiError(413, "payload_too_large", f"{length} bytes: the upload is larger than "
                        f"{_mib(self.max_file)} (this form holds at most {self.max_body(boundary)} bytes: "
                        f"the file and {self.overhead(boundary)} bytes of form)", subject="Content-Length",
                        hint=_SHORTER)

    def body_too_large(self, boundary: bytes) -> ApiError:
        """The body streamed past :meth:`max_body` (no Content-Length, or a wrong one)."""
        return ApiError(413, "payload_too_large", f"more than {self.max_body(boundary)} bytes: larger than "
                        f"this form can be (a file of {_mib(self.max_file)} and {self.overhead(boundary)} "
                        "bytes of fields, part headers and boundaries)", subject="request body", hint=_SHORTER)

    def field_too_large(self, name: str) -> ApiError:
        cap = self.field_cap(name)
        return ApiError(413, "field_too_large", f"form field {name!r} is larger than {cap // 1024} KiB",
                        subject=name)


def filename_too_long(filename: str, size: int | None = None) -> ApiError:
    shown = filename if len(filename) <= 40 else filename[:40] + "..."
    length = f"{size} bytes long" if size is not None else "too long"
    return ApiError(422, "filename_too_long", f"file name is {length}; at most {MAX_FILENAME_BYTES} bytes "
                    "(UTF-8)", subject=f"file name {shown!r}", hint="rename the file before uploading it")


def part_headers_too_large(name: str) -> ApiError:
    return ApiError(400, "malformed_multipart", f"the headers of form part {name or '(unnamed)'!r} are "
                    f"larger than {PART_HEADER_BYTES} bytes", subject="request body",
                    hint="send Content-Disposition (name, file name) and at most a Content-Type")


_SHORTER = "send a shorter clip, or raise --max-upload-mb on the server"


def _mib(n: int) -> str:
    return f"{n / 2**20:g} MiB"
