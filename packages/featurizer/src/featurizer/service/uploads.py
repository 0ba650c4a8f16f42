"""Stream a multipart/form-data request into a temporary folder, with size caps.

The ``file`` part goes straight to ``<workdir>/upload`` as it arrives (never whole in memory);
small fields are kept as text. The caller owns ``workdir`` and removes it.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from .errors import ApiError

FILE_FIELD = "file"
TEXT_FIELDS = ("models", "dtype", "frames", "fps", "detect_every", "track", "format", "annotation")
SMALL_FIELD_BYTES = 64 * 1024  # every field but the annotation
MULTIPART_SLACK = 1 << 20  # headers and boundaries allowed on top of the caps
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

    def __init__(self, workdir: Path, max_file: int, max_field: int, fields: Sequence[str] = TEXT_FIELDS):
        self.workdir, self.fields = workdir, tuple(fields)
        self.max_file = max_file
        self.max_field = max_field
        self.upload = Upload()
        self.ended = False
        self._name = ""
        self._filename: str | None = None
        self._header_name = b""
        self._header_value = b""
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
        self._name, self._filename = "", None
        self._data = bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
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
        if name != FILE_FIELD and name not in self.fields:
            raise ApiError(422, "unknown_field", f"unknown form field {name!r}", subject=name,
                           hint=f"accepted: {', '.join((FILE_FIELD, *self.fields))}")
        if name in self._seen:
            raise ApiError(422, "duplicate_field", f"form field {name!r} given twice", subject=name)
        self._seen.add(name)
        self._name = name
        if name == FILE_FIELD:
            raw = opts.get(b"filename", b"")
            self.upload.filename = Path(raw.decode("utf-8", "replace").replace("\\", "/")).name
            self.upload.path = self.workdir / "upload"
            self._fh = open(self.upload.path, "wb")  # noqa: SIM115 - closed in on_part_end/close

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        n = end - start
        if self._name == FILE_FIELD:
            self.upload.size += n
            if self.upload.size > self.max_file:
                raise too_large(self.max_file)
            assert self._fh is not None
            self._fh.write(data[start:end])
            return
        cap = self.max_field if self._name == "annotation" else SMALL_FIELD_BYTES
        if len(self._data) + n > cap:
            raise ApiError(413, "field_too_large", f"form field {self._name!r} is larger than "
                           f"{cap // 1024} KiB", subject=self._name)
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


def too_large(limit: int) -> ApiError:
    return ApiError(413, "payload_too_large", f"upload is larger than {limit / 2**20:g} MiB",
                    subject="file", hint="send a shorter clip, or raise --max-upload-mb on the server")


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


async def receive_upload(chunks: AsyncIterator[bytes], content_type: str | None,
                         content_length: str | None, workdir: Path, max_file: int,
                         max_field: int, fields: Sequence[str] = TEXT_FIELDS) -> Upload:
    """Parse the body into ``workdir``; raises :class:`ApiError` (413 as soon as a cap is passed;
    422 for a form field other than the file and ``fields``)."""
    boundary = check_content_type(content_type)
    max_body = max_file + max_field + MULTIPART_SLACK
    if content_length and content_length.isdigit() and int(content_length) > max_body:
        raise too_large(max_file)
    col = _Collector(workdir, max_file, max_field, fields)
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
                raise too_large(max_file)
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
