"""Reading a bundle folder's manifest and files, and checking them before anything is used.

The manifest is read once (the bytes checked are the bytes parsed) and, with trusted keys, its
signature verified; then its format version, task list, id, class list and files table are
checked, every listed path stays inside the folder and nothing unlisted or linked is there
(:mod:`.contents`), and every file is read once and checked against its sha256. Each problem is
one :class:`~exprnet.errors.BundleError` naming the file.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from featurizer.core.classes import EXPR_CLASSES
from featurizer.core.classes import TASKS as TASK_NAMES

from .. import __version__
from ..errors import BundleError
from . import signing
from .contents import MANIFEST, SIGNATURE, check_entry, read_inside, scan

FORMAT_VERSION = 1
TASKS_FORMAT_VERSION = 2  # a bundle with VA or AU (``tasks``, ``task_post``); EXPR-only bundles stay 1


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()


def bundle_id(manifest: dict[str, Any]) -> str:
    """The bundle's id: the sha256 of its manifest without ``id`` and ``created`` (which hold the
    files' sha256s), so two bundles of the same content share it."""
    core = {k: v for k, v in manifest.items() if k not in ("id", "created")}
    return sha256_bytes(canonical(core))[:16]

@dataclass
class Blobs:
    """The bundle's verified files by relative path; a missing one is named."""

    root: Path
    data: dict[str, bytes]

    def __getitem__(self, rel: str) -> bytes:
        if rel not in self.data:
            raise BundleError(str(self.root / rel), f"is not listed in {MANIFEST}",
                              "rebuild the bundle with `exprnet bundle`")
        return self.data[rel]


def read_verified(root: Path, rel: str, files: dict[str, str]) -> bytes:
    """A listed file's bytes, checked against the manifest (read once: what is checked is used)."""
    p = root / rel
    data = read_inside(root, rel)
    if data is None:
        raise BundleError(str(p), "is missing from the bundle", "copy the whole bundle folder, or rebuild it")
    if sha256_bytes(data) != files[rel]:
        raise BundleError(str(p), f"was altered (sha256 {sha256_bytes(data)[:12]}, the bundle lists "
                          f"{files[rel][:12]})", "restore the file from the original bundle, or rebuild it")
    return data


def read_manifest(root: Path, trusted_keys: Any) -> tuple[dict[str, Any], str | None]:
    """The manifest, read once (the bytes checked are the bytes parsed), and the fingerprint of
    the trusted key that signed it (None when no key is required)."""
    raw = read_inside(root, MANIFEST) if root.is_dir() else None
    if raw is None:
        raise BundleError(str(root), f"is not a bundle (no {MANIFEST})", "make one with `exprnet bundle`")
    signer = None
    if trusted_keys is not None:
        keys = signing.load_trusted_keys(trusted_keys) if isinstance(trusted_keys, str | Path) else list(trusted_keys)
        signer = signing.verify(root, raw, read_inside(root, SIGNATURE), keys).fingerprint
    try:
        manifest = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BundleError(str(root / MANIFEST), f"is not JSON ({e})", "restore it from the original bundle") from None
    if not isinstance(manifest, dict):
        raise BundleError(str(root / MANIFEST), "is not a JSON object", "restore it from the original bundle")
    return manifest, signer


def check_manifest(root: Path, manifest: dict[str, Any]) -> list[str]:
    """The manifest's format version, tasks, id, classes and files table checked, the folder
    scanned (:func:`.contents.scan`); returns the bundle's tasks."""
    mp = root / MANIFEST
    mp = root / MANIFEST
    version = manifest.get("format_version")
    if version not in (FORMAT_VERSION, TASKS_FORMAT_VERSION):
        raise BundleError(str(mp), f"has format_version {version!r}; this exprnet ({__version__}) reads "
                          f"{FORMAT_VERSION} and {TASKS_FORMAT_VERSION}",
                          "use the exprnet version that made the bundle, or rebuild it")
    tasks = manifest.get("tasks", ["expr"])
    if (not isinstance(tasks, list) or not tasks or any(t not in TASK_NAMES for t in tasks)
            or (tasks != ["expr"]) != (version == TASKS_FORMAT_VERSION)):
        raise BundleError(str(mp), f"lists tasks {tasks!r} (format_version {version})",
                          f"tasks are some of {', '.join(TASK_NAMES)}; rebuild the bundle")
    if manifest.get("id") != bundle_id(manifest):
        raise BundleError(str(mp), "was altered (its content no longer matches its id)",
                          "restore it from the original bundle, or rebuild it")
    if list(manifest.get("classes", [])) != list(EXPR_CLASSES):
        raise BundleError(str(mp), f"has classes {manifest.get('classes')}, not {', '.join(EXPR_CLASSES)}")
    files = manifest.get("files") or {}
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        raise BundleError(str(mp), "has no valid files table", "restore it from the original bundle")
    for rel in files:
        check_entry(root, rel, "the file")
    for e in manifest.get("members") or []:
        check_entry(root, e.get("folder") if isinstance(e, dict) else e, "the member folder")
    scan(root, files)  # no link, no file it does not list
    return list(tasks)


def verified_files(root: Path, manifest: dict[str, Any]) -> Blobs:
    """Every listed file read once and checked, before any is used."""
    files = manifest.get("files") or {}
    return Blobs(root, {rel: read_verified(root, rel, files) for rel in files})
