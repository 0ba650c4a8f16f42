"""Stream a multipart/form-data request into a temporary folder, with the route's caps
(:class:`~.limits.FormLimits`).

The ``file`` part goes straight to ``<workdir>/upload`` as it arrives (never whole in memory);
small fields are kept as text. The caller owns ``workdir`` and removes it.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from .errors import ApiError
from .limits import (
    FILE_FIELD,
    MAX_FILENAME_BYTES,
    PART_HEADER_BYTES,
    FormLimits,
    filename_too_long,
    header_line_bytes,
    part_headers_too_large,
)

WORKDIR_PREFIX = "featurizer-"


@dataclass
class Upload:
    path: Path | None = None
    filename: str = ""
    size: int = 0
    fields: dict[str, str] = field(default_factory=dict)


def new_workdir(temp_dir: Path | None) -> Path:
    """A private folder for one request: ``featurizer-<pid>-<random>`` (the pid lets a restarted
    server remove what a killed one left behind)."""
    if temp_dir is not None:
        Path(temp_dir).mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{os.getpid()}-", dir=temp_dir))


def remove_stale_workdirs(temp_dir: Path | None) -> int:
    """Remove request folders of server processes that no longer run."""
    root = Path(temp_dir or tempfile.gettempdir())
    removed = 0
    if not root.is_dir():
        return 0
    for d in root.glob(f"{WORKDIR_PREFIX}*-*"):
        m = re.match(rf"{WORKDIR_PREFIX}(\d+)-", d.name)
        if not (m and d.is_dir()):
            continue
        pid = int(m.group(1))
        if pid == os.getpid() or _alive(pid):
            continue
        shutil.rmtree(d, ignore_errors=True)
        removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, not ours
        return True
    return True


class _Collector:
    """python-multipart callbacks: file data to disk, fields to memory, every cap enforced."""

    def __init__(self, workdir: Path, limits: FormLimits):
        self.workdir, self.limits = workdir, limits
        self.upload = Upload()
        self.ended = False
        self._name = ""
        self._header_name = b""
        self._header_value = b""
        self._header_bytes = 0
        self._disposition = b""
        self._data = bytearray()
        self._fh: BinaryIO | None = None
        self._seen: set[str] = set()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    # -- callbacks ----------------------------------------------------------------------------
    def on_part_begin(self) -> None:
        self._disposition = b""
        self._name = ""
        self._header_bytes = 0
        self._data = bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]
        self._check_headers()

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]
        self._check_headers()

    def _check_headers(self) -> None:
        """The part's headers within PART_HEADER_BYTES (a long file name said as such)."""
        if self._header_bytes + header_line_bytes(self._header_name, self._header_value) <= PART_HEADER_BYTES:
            return
        disposition = self._header_value if self._header_name.lower() == b"content-disposition" \
            else self._disposition
        _, opts = parse_options_header(disposition)
        if b"filename" in opts or b"filename=" in disposition:
            name = opts.get(b"filename") or disposition.partition(b"filename=")[2]
            raise filename_too_long(name.strip(b'"').decode("utf-8", "replace"))
        raise part_headers_too_large(opts.get(b"name", b"").decode("utf-8", "replace"))

    def on_header_end(self) -> None:
        self._header_bytes += header_line_bytes(self._header_name, self._header_value)
        if self._header_name.lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name = self._header_value = b""

    def on_headers_finished(self) -> None:
        _, opts = parse_options_header(self._disposition)
        if b"name" not in opts:
            raise ApiError(400, "malformed_multipart", "a form part has no name",
                           subject="request body", hint="every part needs Content-Disposition: "
                           "form-data; name=...")
        name = opts[b"name"].decode("utf-8", "replace")
        if name != FILE_FIELD and name not in self.limits.fields:
            raise ApiError(422, "unknown_field", f"unknown form field {name!r}", subject=name,
                           hint=f"accepted: {', '.join((FILE_FIELD, *self.limits.fields))}")
        if name in self._seen:
            raise ApiError(422, "duplicate_field", f"form field {name!r} given twice", subject=name)
        self._seen.add(name)
        self._name = name
        if name == FILE_FIELD:
            raw = opts.get(b"filename", b"")
            if len(raw) > MAX_FILENAME_BYTES:
                raise filename_too_long(raw.decode("utf-8", "replace"), len(raw))
            self.upload.filename = Path(raw.decode("utf-8", "replace").replace("\\", "/")).name
            self.upload.path = self.workdir / "upload"
            self._fh = open(self.upload.path, "wb")  # noqa: SIM115 - closed in on_part_end/close

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        n = end - start
        if self._name == FILE_FIELD:
            self.upload.size += n
            if self.upload.size > self.limits.max_file:
                raise self.limits.file_too_large()
            assert self._fh is not None
            self._fh.write(data[start:end])
            return
        if len(self._data) + n > self.limits.field_cap(self._name):
            raise self.limits.field_too_large(self._name)
        self._data += data[start:end]

    def on_part_end(self) -> None:
        if self._name == FILE_FIELD:
            self.close()
            return
        try:
            self.upload.fields[self._name] = self._data.decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(422, "invalid_parameter", f"form field {self._name!r} is not UTF-8 text",
                           subject=self._name) from None

    def on_end(self) -> None:
        self.ended = True


def check_content_type(content_type: str | None) -> bytes:
    """The multipart boundary, or 415 for any other body."""
    ctype, opts = parse_options_header(content_type or "")
    if ctype != b"multipart/form-data":
        raise ApiError(415, "unsupported_content_type",
                       f"expected multipart/form-data, got {content_type or 'no Content-Type'!r}",
                       subject="Content-Type",
                       hint="send the clip as form field `file`, e.g. curl -F file=@clip.mp4")
    boundary = opts.get(b"boundary")
    if not boundary or len(boundary) > 200:
        raise ApiError(400, "malformed_multipart", "multipart body without a (valid) boundary",
                       subject="Content-Type")
    return boundary


def check_length(content_type: str | None, content_length: str | None, limits: FormLimits) -> bytes:
    """Before the body is read: the boundary, and 413 when ``Content-Length`` says the body is
    larger than the route's form can be (:meth:`FormLimits.max_body`)."""
    boundary = check_content_type(content_type)
    if content_length and content_length.isdigit() and int(content_length) > limits.max_body(boundary):
        raise limits.length_too_large(int(content_length), boundary)
    return boundary


async def receive_upload(chunks: AsyncIterator[bytes], content_type: str | None,
                         content_length: str | None, workdir: Path, limits: FormLimits) -> Upload:
    """Parse the body into ``workdir``; raises :class:`ApiError` (413 before reading when
    Content-Length is over the form's bound, else as soon as a cap is passed; 422 for a form
    field the route does not take). ``chunks`` is not touched before the checks on the headers."""
    boundary = check_length(content_type, content_length, limits)
    max_body = limits.max_body(boundary)
    col = _Collector(workdir, limits)
    parser = MultipartParser(boundary, {  # type: ignore[arg-type]
        "on_part_begin": col.on_part_begin, "on_part_data": col.on_part_data,
        "on_part_end": col.on_part_end, "on_header_field": col.on_header_field,
        "on_header_value": col.on_header_value, "on_header_end": col.on_header_end,
        "on_headers_finished": col.on_headers_finished, "on_end": col.on_end,
    })
    received = 0
    try:
        async for chunk in chunks:
            received += len(chunk)
            if received > max_body:
                raise limits.body_too_large(boundary)
            if col.ended:
                continue  # epilogue after the closing boundary
            parser.write(chunk)
        parser.finalize()
    except FormParserError as e:
        raise ApiError(400, "malformed_multipart", f"malformed multipart body ({e})",
                       subject="request body") from None
    finally:
        col.close()
    if not col.ended:
        raise ApiError(400, "malformed_multipart", "multipart body ends before its closing boundary",
                       subject="request body", hint="the upload was cut short; send it again")
    up = col.upload
    if up.path is None:
        raise ApiError(422, "missing_file", "no form field `file` with the clip", subject=FILE_FIELD,
                       hint="e.g. curl -F file=@clip.mp4 ...")
    return up
