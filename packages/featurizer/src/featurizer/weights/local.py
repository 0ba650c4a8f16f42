"""A weights source on this machine: what kind it is and the files it consists of."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..errors import WeightsError
from .hashing import file_sha256, files_sha256

STATE_DICT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin", ".ckpt")
# Files that hold a whole model by themselves: state dicts and ONNX graphs.
MODEL_FILE_SUFFIXES = STATE_DICT_SUFFIXES + (".onnx",)
RANDOM = "random"

Kind = Literal["file", "hf_folder", "speechbrain", "random"]


@dataclass(frozen=True)
class ResolvedWeights:
    """A weights source made local: what it is, the files it consists of, and their hash."""

    extractor: str
    source: str  # as given by the user, or the default
    kind: Kind
    path: Path | None  # the file or folder (None for ``random``)
    files: tuple[Path, ...] = ()
    sha256: str | None = None

    @property
    def weights_id(self) -> str:
        return self.source

    @property
    def suffix(self) -> str:
        """The file's suffix, lower case ('' for folders and ``random``)."""
        return self.path.suffix.lower() if self.path is not None and self.path.is_file() else ""

    def file(self, *names: str) -> Path | None:
        """The first of ``names`` present in the folder (or the file itself)."""
        if self.path is None:
            return None
        if self.path.is_file():
            return self.path
        for n in names:
            if (self.path / n).is_file():
                return self.path / n
        return None


def flag_hint(extractor: str, example: str = "PATH") -> str:
    return f"pass local weights with --weights {extractor}={example}"


def looks_local(src: str) -> bool:
    """A path the user meant as local (so a miss is "not found", not a hub lookup)."""
    if src.startswith(("/", ".", "~")) or "\\" in src or os.path.isabs(src):
        return True
    return src.count("/") <= 1 and src.lower().endswith(MODEL_FILE_SUFFIXES)


def _folder_kind(folder: Path) -> Kind:
    if (folder / "hyperparams.yaml").is_file():
        return "speechbrain"
    if (folder / "config.json").is_file():
        return "hf_folder"
    return "file"


def _folder_files(folder: Path) -> list[Path]:
    """The files of a folder that define the model (configs and weights), top level only."""
    keep = (".json", ".yaml", ".yml", ".txt") + MODEL_FILE_SUFFIXES
    return sorted(f for f in folder.iterdir() if f.is_file() and f.suffix.lower() in keep
                  and not f.name.startswith(".") and f.name.lower() != "readme.md")


def _single_model_file(folder: Path, extractor: str, source: str) -> Path:
    found = sorted(f for f in folder.iterdir() if f.is_file() and f.suffix.lower() in MODEL_FILE_SUFFIXES)
    if len(found) != 1:
        what = "no" if not found else f"{len(found)}"
        raise WeightsError(
            f"{extractor} weights {source}",
            f"folder has {what} weights files (state dict or .onnx) and no config.json or hyperparams.yaml",
            f"pass the file itself: --weights {extractor}={folder}/<file>")
    return found[0]


def has_model_file(folder: Path) -> bool:
    return any(f.suffix.lower() in MODEL_FILE_SUFFIXES for f in folder.iterdir() if f.is_file())


def local_weights(extractor: str, source: str, path: Path) -> ResolvedWeights:
    """A local file or folder as weights (its kind, files and sha256)."""
    if path.is_file():
        if path.stat().st_size == 0:
            raise WeightsError(f"{extractor} weights {source}", "file is empty", flag_hint(extractor))
        return ResolvedWeights(extractor, source, "file", path, (path,), file_sha256(path))
    kind = _folder_kind(path)
    if kind == "file":
        f = _single_model_file(path, extractor, source)
        return ResolvedWeights(extractor, source, "file", f, (f,), file_sha256(f))
    files = _folder_files(path)
    return ResolvedWeights(extractor, source, kind, path, tuple(files), files_sha256(files))
