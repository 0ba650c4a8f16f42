"""A bundle's files, read without ever leaving its folder.

Bundles are shared (downloaded, mailed, copied to clusters), and whoever edits ``bundle.json`` can
recompute its id, so nothing a bundle says about its files is trusted to point inside it:

- an entry of the manifest (``files``, a member's ``folder``) that is absolute, has a ``..`` (or
  an empty or ``.``) component, a backslash or a NUL is refused;
- a symbolic link anywhere in the folder (a member file, a member folder, ``bundle.json`` itself),
  listed or not, is refused; so is any file the manifest does not list (but the manifest and its
  signature) and anything that is not a regular file;
- each file is opened one path component at a time, relative to the folder above it, never
  following a link (``O_NOFOLLOW`` with ``dir_fd``), so a link swapped in after the check is not
  followed either.

The folder given to load (``--bundle PATH``) is the user's choice and may itself be a link.
Every refusal is one :class:`~exprnet.errors.BundleError` naming the entry.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path, PureWindowsPath

from ..errors import BundleError

MANIFEST = "bundle.json"
SIGNATURE = "bundle.sig"  # the optional Ed25519 signature over the manifest (:mod:`.signing`)
UNLISTED = (MANIFEST, SIGNATURE)  # the only files the manifest cannot list
REBUILD = "rebuild it with `exprnet bundle`, or get it again from its author"
COPY = "copy the bundle with its files rather than links (cp -rL), or get it again from its author"


def entry_problem(rel: object) -> str | None:
    """Why ``rel`` is not a path inside the bundle (None when it is one)."""
    if not isinstance(rel, str) or not rel:
        return "is not a relative file name"
    if "\\" in rel or "\x00" in rel:
        return "holds a backslash or NUL"
    if rel.startswith("/") or PureWindowsPath(rel).drive or PureWindowsPath(rel).root:
        return "is an absolute path"
    if any(part in ("", ".", "..") for part in rel.split("/")):
        return "has a '..', '.' or empty component"
    return None


def check_entry(root: Path, rel: object, what: str) -> str:
    """``rel`` if it names a path inside the bundle, else a BundleError naming the entry."""
    problem = entry_problem(rel)
    if problem:
        raise BundleError(str(root / MANIFEST), f"lists {what} {rel!r}, which {problem}: it points outside "
                          "the bundle folder", f"do not use this bundle; {REBUILD}")
    return str(rel)


def scan(root: Path, files: Mapping[str, str]) -> None:
    """Refuse a link anywhere in the bundle, a file the manifest does not list, and anything that
    is not a regular file or a folder (the whole tree, before any file is read)."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in sorted(dirnames + filenames):
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            mode = p.lstat().st_mode
            if stat.S_ISLNK(mode):
                raise BundleError(str(p), f"is a symbolic link (to {os.readlink(p)!r}); a bundle holds none, "
                                  "and loading never follows one", COPY)
            if stat.S_ISDIR(mode):
                continue
            if not stat.S_ISREG(mode):
                raise BundleError(str(p), "is not a regular file", REBUILD)
            if rel not in files and rel not in UNLISTED:
                raise BundleError(str(p), f"is not listed in {MANIFEST}",
                                  "remove it from the bundle folder, or get the bundle again from its author")


def read_inside(root: Path, rel: str) -> bytes | None:
    """The bytes of ``root/rel`` (None when it does not exist), each component opened relative to
    the one above without following a link; a link or a non-regular file is a BundleError."""
    path = root / rel
    parts = rel.split("/")
    nofollow = getattr(os, "O_NOFOLLOW", 0)
    if os.open not in os.supports_dir_fd or not nofollow:  # no openat (Windows): check, then open
        if any((root.joinpath(*parts[:k + 1])).is_symlink() for k in range(len(parts))):
            raise _link(path)
        return path.read_bytes() if path.is_file() else None
    opened: list[int] = []
    try:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        opened.append(fd)
        for k, part in enumerate(parts):
            last = k == len(parts) - 1
            flags = os.O_RDONLY | os.O_CLOEXEC | nofollow | (0 if last else os.O_DIRECTORY)
            fd = os.open(part, flags, dir_fd=fd)
            opened.append(fd)
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise BundleError(str(path), "is not a regular file", REBUILD)
        with os.fdopen(os.dup(fd), "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None
    except OSError as e:  # ELOOP: a link where a file or folder was expected; ENOTDIR: a file as a folder
        if os.path.islink(path) or any(os.path.islink(root.joinpath(*parts[:k + 1])) for k in range(len(parts))):
            raise _link(path) from None
        raise BundleError(str(path), f"cannot be read ({e.strerror})", REBUILD) from None
    finally:
        for fd in reversed(opened):
            os.close(fd)


def _link(path: Path) -> BundleError:
    return BundleError(str(path), "is (or lies below) a symbolic link; loading a bundle never follows one", COPY)
