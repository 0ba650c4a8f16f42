"""What weights hash to: a file's own sha256, or a folder's manifest sha256 (memoised per process)."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from pathlib import Path

_HASHES: dict[tuple[str, int, int], str] = {}
_HASH_LOCK = threading.Lock()


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes (memoised per path, size and mtime for this process)."""
    p = Path(path).resolve()
    st = p.stat()
    key = (str(p), st.st_size, st.st_mtime_ns)
    with _HASH_LOCK:
        if key in _HASHES:
            return _HASHES[key]
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    digest = h.hexdigest()
    with _HASH_LOCK:
        _HASHES[key] = digest
    return digest


def files_sha256(files: Sequence[Path]) -> str | None:
    """One file: its sha256. Several: sha256 of the sorted ``<sha256>  <name>`` manifest."""
    if not files:
        return None
    if len(files) == 1:
        return file_sha256(files[0])
    lines = [f"{file_sha256(f)}  {f.name}" for f in sorted(files, key=lambda f: f.name)]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()
