"""A weights source on this machine: what kind it is and the files it consists of."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ...errors import WeightsError
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


# A Hugging Face folder's weights, in the order transformers prefers them: one file, or the shards
# an index names. Hub repos often hold several sets (whisper-large-v3: model.safetensors in fp16
# and model.fp32-0000N-of-00002.safetensors; pytorch_model.bin beside them): one is used.
HF_WEIGHT_SETS = (("model.safetensors", "model.safetensors.index.json"),
                  ("pytorch_model.bin", "pytorch_model.bin.index.json"))
# The same choice as download patterns (``*.json`` brings the index and configs), tried in order.
HF_HUB_PATTERNS = (("*.json", "model.safetensors"), ("*.json", "model-*-of-*.safetensors"),
                   ("*.json", "pytorch_model.bin"), ("*.json", "pytorch_model-*-of-*.bin"))
_INDEX = ".index"


def _index_shards(index: Path) -> list[Path] | None:
    """The shard files an index (``{"weight_map": {tensor: file}}``) names, if all are present."""
    import json

    try:
        names = sorted(set(json.loads(index.read_text())["weight_map"].values()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    shards = [index.parent / n for n in names]
    return shards if names and all(f.is_file() for f in shards) else None


def hf_weight_set(folder: Path) -> tuple[list[Path], Path | None]:
    """The one weights set of a Hugging Face folder and the index naming it (None: one file):
    ``model.safetensors``, else the shards of ``model.safetensors.index.json``, else
    ``pytorch_model.bin`` or its index's shards; else the one index or one weights file of another
    name (a variant alone, e.g. fp32 shards). ``[]``: none, or no way to tell which."""
    for single, index in HF_WEIGHT_SETS:
        if (folder / single).is_file():
            return [folder / single], None
        if (folder / index).is_file() and (shards := _index_shards(folder / index)):
            return shards, folder / index
    indexes = [f for f in folder.glob(f"*{_INDEX}*.json") if f.is_file()]
    if len(indexes) == 1 and (shards := _index_shards(indexes[0])):
        return shards, indexes[0]
    lone = [f for f in folder.iterdir() if f.is_file() and f.suffix.lower() in STATE_DICT_SUFFIXES]
    return (lone if len(lone) == 1 else []), None


def hf_weight_files(folder: Path) -> list[Path]:
    """The weights files of a Hugging Face folder that are used (:func:`hf_weight_set`)."""
    return hf_weight_set(folder)[0]


def _folder_files(folder: Path, kind: Kind) -> list[Path]:
    """The files of a folder that define the model (configs and weights), top level only; of a
    Hugging Face folder's weights, only the set used (:func:`hf_weight_set`) and its index."""
    keep = (".json", ".yaml", ".yml", ".txt") + MODEL_FILE_SUFFIXES
    files = [f for f in folder.iterdir() if f.is_file() and f.suffix.lower() in keep
             and not f.name.startswith(".") and f.name.lower() != "readme.md"]
    used, index = hf_weight_set(folder) if kind == "hf_folder" else ([], None)
    if used:
        files = [f for f in files if f in used or f == index or (
            f.suffix.lower() not in MODEL_FILE_SUFFIXES and _INDEX not in f.name)]
    return sorted(files)


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
    files = _folder_files(path, kind)
    return ResolvedWeights(extractor, source, kind, path, tuple(files), files_sha256(files))
