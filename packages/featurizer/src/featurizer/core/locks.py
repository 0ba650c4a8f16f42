"""Lock files that keep writers of one local store off each other's arrays.

::

    <folder>/.<store>.locks/<track>/<model>.lock      held while a writer computes and writes that array
    <folder>/.<store>.locks/<track>/.timeline.lock    held while a writer writes the track's timeline

beside the store (``data/features.zarr`` -> ``data/.features.zarr.locks/``), so that no Zarr
reader lists them; inside it (``<store>/.locks/``) only where the store's folder cannot be
written. Each is an OS lock (``flock``, through filelock) on an empty file: two processes, or two
threads of one, never hold the same one at once; one thread may take its own again (the store's
``write_feature`` inside an extraction's claim). The OS frees a lock when its holder ends, killed
or not, so a dead writer never blocks the next. Readers never take them; the files may be deleted
whenever no writer runs.

Stores behind an fsspec URL (``s3://``, ``gs://``, ``memory://`` ...) get no lock files: their
writers are not coordinated (docs/extract.md says what holds there).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LOCKS = ".locks"
TIMELINE = ".timeline"  # not a model name


def local_path(url: str) -> Path | None:
    """The folder of a store on this machine's file system, or None for an fsspec URL."""
    if url.startswith("file://"):
        return Path(url[len("file://"):])
    return None if "://" in url else Path(url)


class StoreLocks:
    """The lock files of the store at ``url`` (none for a remote store: every lock is granted)."""

    def __init__(self, url: str):
        self.store = local_path(url)
        self._folder: Path | None = None

    @property
    def folder(self) -> Path | None:
        """Where the lock files are (made on first use); None for a remote store."""
        if self.store is None:
            return None
        if self._folder is None:
            real = self.store.resolve()  # one folder, whichever path (or link) names the store
            beside = real.parent / f".{real.name}{LOCKS}"
            try:
                beside.mkdir(parents=True, exist_ok=True)
                self._folder = beside
            except OSError:  # a folder the writer cannot write: inside the store, which it can
                self._folder = real / LOCKS
        return self._folder

    def lock(self, track: str, name: str) -> Any:
        """The lock of ``track``'s array ``name`` (or of its timeline), a filelock ``FileLock``;
        None for a remote store."""
        folder = self.folder
        if folder is None:
            return None
        from filelock import FileLock

        path = folder / track / f"{name}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        return FileLock(path, is_singleton=True)

    @contextlib.contextmanager
    def held(self, track: str, name: str) -> Iterator[None]:
        """Hold the lock (waiting for another writer to let it go)."""
        lk = self.lock(track, name)
        if lk is None:
            yield
            return
        with lk:
            yield

    def try_lock(self, track: str, name: str, wait: bool) -> tuple[Any, bool]:
        """(the held lock, whether another writer held it first). Without ``wait``, a lock held
        elsewhere is not taken: (None, True)."""
        from filelock import Timeout

        lk = self.lock(track, name)
        if lk is None:
            return None, False
        try:
            lk.acquire(blocking=False)
            return lk, False
        except Timeout:
            if not wait:
                return None, True
        lk.acquire()
        return lk, True


@dataclass
class Claim:
    """What one writer does with the arrays it meant to write (each: track -> model names)."""

    mine: dict[str, list[str]] = field(default_factory=dict)  # held: compute and write them
    theirs: dict[str, list[str]] = field(default_factory=dict)  # another writer completed them: skip
    busy: dict[str, list[str]] = field(default_factory=dict)  # another writer holds them now (not waited for)


@contextlib.contextmanager
def claim(locks: StoreLocks, todo: dict[str, list[str]], complete: Callable[[str, str], bool],
          wait: bool, recheck: bool) -> Iterator[Claim]:
    """Take the lock of every array of ``todo`` for the block; all are let go after it.

    Taken in one sorted order, so writers that wait never wait on each other in a circle. An
    array found complete once its lock is held was written by another writer meanwhile: it goes
    to ``theirs`` (always when that writer held the lock first; with ``recheck``, whenever it is
    complete, i.e. unless this run overwrites). ``wait=False``: an array another writer holds goes
    to ``busy`` at once.
    """
    got = Claim()
    held: list[Any] = []
    try:
        for track in sorted(todo):
            for model in sorted(todo[track]):
                lk, contended = locks.try_lock(track, model, wait)
                if contended and lk is None:
                    got.busy.setdefault(track, []).append(model)
                    continue
                if (recheck or contended) and complete(track, model):
                    if lk is not None:
                        lk.release()
                    got.theirs.setdefault(track, []).append(model)
                    continue
                if lk is not None:
                    held.append(lk)
                got.mine.setdefault(track, []).append(model)
        for part in (got.mine, got.theirs, got.busy):  # in the order the caller listed them
            for track, models in part.items():
                part[track] = [m for m in todo[track] if m in models]
        yield got
    finally:
        for lk in reversed(held):
            lk.release()
