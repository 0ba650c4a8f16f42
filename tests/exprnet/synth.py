"""A small synthetic corpus written the way docs/store.md says: annotation files + a Zarr store.

Labels come in runs (15-60 frames, some -1 runs). Each feature is ``gain * prototype[class]`` plus
strong per-frame noise plus a slow per-track drift, so one frame says little and the temporal
context says a lot: a per-frame classifier is weak, a temporal model is not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import zarr

HEADER = "Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise,Other"


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


def write_labels(path: Path, labels: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + "\n" + "\n".join(str(int(v)) for v in labels) + "\n")
    return path


def open_store(path: Path | str) -> zarr.Group:
    root = zarr.open_group(str(path), mode="a")
    root.attrs.update({"format": "featurizer-store", "format_version": 1})
    root.require_group("tracks")
    return root


def write_track(root: zarr.Group, track: str, n: int, attrs: dict | None = None) -> zarr.Group:
    t = root["tracks"].require_group(track)
    t.create_array("timestamps", data=np.arange(n) / 25.0, overwrite=True)
    t.create_array("frame_present", data=np.ones(n, bool), overwrite=True)
    t.attrs.update({"n_frames": n, "source_video": track.rsplit("_", 1)[0] + ".mp4", "fps": 25.0,
                    **(attrs or {})})
    return t


def write_feature(root: zarr.Group, track: str, model: str, values: np.ndarray,
                  present: np.ndarray | None = None, modality: str = "visual", complete: bool = True,
                  dtype: str = "float16") -> None:
    feats = root["tracks"][track].require_group("features")
    if model in feats:
        del feats[model]
    g = feats.create_group(model, attributes={"complete": False})
    n, d = values.shape
    g.create_array("values", shape=(n, d), dtype=dtype, chunks=(max(1, min(n, 4096)), d))
    g["values"][:] = values.astype(dtype)
    g.create_array("present", data=np.ones(n, bool) if present is None else present)
    if complete:
        g.attrs.update({"complete": True, "extractor": model, "modality": modality, "dim": d,
                        "dtype": dtype, "n_frames": n, "timing": {"kind": "per_frame"}})


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
