"""A small synthetic corpus written the way docs/store.md says: annotation files + a Zarr store.

Labels come in runs (15-60 frames, some -1 runs). Each feature is ``gain * prototype[class]`` plus
strong per-frame noise plus a slow per-track drift, so one frame says little and the temporal
context says a lot: a per-frame classifier is weak, a temporal model is not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from featurizer.core.annotations import write_annotation
from featurizer.core.store import FeatureStore


@dataclass
class Corpus:
    root: Path
    store: Path
    labels: Path
    tracks: dict[str, str]  # track -> split
    label_arrays: dict[str, np.ndarray] = field(default_factory=dict)
    features: dict[str, int] = field(default_factory=dict)


def label_runs(n: int, rng: np.random.Generator, unannotated: float = 0.08) -> np.ndarray:
    out = np.empty(n, np.int8)
    i = 0
    while i < n:
        k = int(rng.integers(15, 60))
        out[i:i + k] = -1 if rng.random() < unannotated else rng.integers(0, 8)
        i += k
    return out


write_labels = write_annotation


def open_store(path: Path | str) -> FeatureStore:
    return FeatureStore(path)


def write_track(store: FeatureStore, track: str, n: int, attrs: dict | None = None) -> None:
    store.write_timeline(track, np.arange(n) / 25.0, np.ones(n, bool),
                         {"source_video": track.rsplit("_", 1)[0] + ".mp4", "fps": 25.0, **(attrs or {})},
                         overwrite=True)


def write_feature(store: FeatureStore, track: str, model: str, values: np.ndarray,
                  present: np.ndarray | None = None, modality: str = "visual", complete: bool = True,
                  dtype: str = "float16", provenance: dict | None = None) -> None:
    """Through the store's own writer; ``complete=False`` leaves a group as a killed write does."""
    n, d = values.shape
    present = np.ones(n, bool) if present is None else present
    if not complete:
        g = store.root["tracks"][track].require_group("features").create_group(
            model, attributes={"complete": False}, overwrite=True)
        g.create_array("values", shape=(n, d), dtype=dtype)
        return
    prov = {"extractor": model, "modality": modality, "recipe_version": "synthetic",
            "timing": {"kind": "per_frame"}, **(provenance or {})}
    store.write_feature(track, model, values.astype(np.float32), present, prov, dtype)


def make_corpus(root: Path, n_train: int = 12, n_val: int = 4, frames: tuple[int, int] = (300, 500),
                features: dict[str, int] | None = None, gain: float = 0.45, drift: float = 0.02,
                seed: int = 0) -> Corpus:
    """Train tracks come in ``_left``/``_right`` pairs and singles; validation tracks are singles."""
    features = features or {"vis": 24, "aud": 12}
    rng = np.random.default_rng(seed)
    protos = {f: rng.standard_normal((8, d)) for f, d in features.items()}
    store = root / "features.zarr"
    labels_dir = root / "annotations"
    z = open_store(store)
    names: dict[str, str] = {}
    for i in range(n_train):
        names[f"train{i // 2}_{'left' if i % 2 == 0 else 'right'}" if i < n_train // 2 else f"video{i}"] = "Train_Set"
    for i in range(n_val):
        names[f"val{i}"] = "Validation_Set"
    corpus = Corpus(root, store, labels_dir, names, features=dict(features))
    for track, split in names.items():
        n = int(rng.integers(*frames))
        lab = label_runs(n, rng)
        shown = np.where(lab >= 0, lab, rng.integers(0, 8))  # unannotated frames still show something
        write_labels(labels_dir / split / f"{track}.txt", lab)
        write_track(z, track, n)
        for f, d in features.items():
            walk = np.cumsum(rng.standard_normal((n, d)) * drift, axis=0)
            x = gain * protos[f][shown] + rng.standard_normal((n, d)) + walk
            present = rng.random(n) > 0.03
            write_feature(z, track, f, x, present, modality="audio" if f.startswith("aud") else "visual")
        corpus.label_arrays[track] = lab
    return corpus
