"""Bring features made elsewhere into a store (``.npy`` per track, the authors' HDF5), and out."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.store import FeatureStore
from ..errors import FeaturizerError, StoreError
from ..media.timeline import fill_nearest


@dataclass
class ImportReport:
    imported: list[str] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)


def _sources(src: Path) -> tuple[dict[str, Path], list[Path]]:
    if src.is_file():
        return ({}, [src]) if src.suffix in {".h5", ".hdf5"} else ({src.stem: src}, [])
    if not src.is_dir():
        raise FeaturizerError(src, "not found", "pass a folder of <track>.npy or an HDF5 file")
    npys = {p.stem: p for p in sorted(src.glob("*.npy")) if not p.name.endswith(".present.npy")}
    h5s = sorted([*src.glob("*.h5"), *src.glob("*.hdf5")])
    if not npys and not h5s:
        raise FeaturizerError(src, "no <track>.npy or .h5 files here")
    return npys, h5s


def _h5_tracks(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Authors' layout: datasets ``<track>/00001`` (one vector per frame, 1-based)."""
    import h5py

    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    with h5py.File(path, "r") as f:
        for track in f:
            g = f[track]
            idx = {int(k): k for k in g.keys() if k.isdigit()}
            if not idx:
                continue
            n = max(idx)
            dim = int(np.prod(g[idx[min(idx)]].shape))
            vals = np.zeros((n, dim), np.float32)
            present = np.zeros(n, bool)
            for i, k in idx.items():
                vals[i - 1] = np.asarray(g[k], np.float32).reshape(-1)
                present[i - 1] = True
            out[track] = (vals, present)
    return out


def import_features(store: FeatureStore, name: str, src: str | Path, fps: float = 30.0,
                    overwrite: bool = False) -> ImportReport:
    """Import one feature ``name``; a track new to the store gets timestamps ``i / fps``."""
    src = Path(src)
    npys, h5s = _sources(src)
    items: dict[str, tuple[np.ndarray, np.ndarray, str]] = {}
    for track, p in npys.items():
        vals = np.load(p)
        pp = p.with_name(f"{track}.present.npy")
        present = np.load(pp).astype(bool) if pp.exists() else np.ones(len(vals), bool)
        items[track] = (vals, present, str(p))
    for h in h5s:
        for track, (vals, present) in _h5_tracks(h).items():
            items[track] = (vals, present, f"{h}:{track}")
    report = ImportReport()
    for track, (vals, present, origin) in sorted(items.items()):
        try:
            vals = np.asarray(vals, np.float32)
            if vals.ndim == 1:
                vals = vals[:, None]
            if vals.ndim != 2 or len(present) != len(vals):
                raise StoreError(origin, f"expected (n, dim) values and n flags, got {vals.shape}")
            if not overwrite and store.is_complete(track, name):
                continue
            if store.has_track(track):
                n = len(store.timestamps(track))
                if n != len(vals):
                    raise StoreError(origin, f"{len(vals)} rows, but track {track!r} has {n} in the store",
                                     "rows must be the track's label frames")
            else:
                store.write_timeline(track, np.arange(len(vals)) / fps, np.ones(len(vals), bool),
                                     {"timestamps_synthetic": True, "fps": fps})
            vals = fill_nearest(vals, present)
            store.write_feature(track, name, vals, present, {
                "extractor": name, "modality": "imported", "recipe_version": "imported",
                "weights_id": origin, "timing": {"kind": "per_frame"}})
            report.imported.append(track)
        except FeaturizerError as e:
            report.problems[origin] = str(e)
    return report


def export_feature(store: FeatureStore, track: str, model: str, out: str | Path) -> tuple[Path, Path]:
    """Write ``out`` (n, dim) and ``out`` with ``.present.npy``."""
    f = store.read_feature(track, model)
    out = Path(out)
    if out.suffix != ".npy":
        out = out.with_suffix(".npy")
    out.parent.mkdir(parents=True, exist_ok=True)
    np.save(out, f.values)
    pres = out.with_name(out.stem + ".present.npy")
    np.save(pres, f.present)
    return out, pres


def inspect_store(store: FeatureStore) -> dict:
    """Tracks, and per model: dim, dtype, tracks, frames, present fraction."""
    tracks = {}
    models: dict[str, dict] = {}
    for t in store.tracks():
        attrs = store.track_attrs(t)
        entry = {"n_frames": attrs.get("n_frames"), "source_video": attrs.get("source_video"), "models": {}}
        for m in store.models(t):
            a = store.feature_attrs(t, m) or {}
            entry["models"][m] = {"dim": a.get("dim"), "n_present": a.get("n_present")}
            s = models.setdefault(m, {"dim": a.get("dim"), "dtype": a.get("dtype"), "modality": a.get("modality"),
                                      "tracks": 0, "frames": 0, "present": 0})
            s["tracks"] += 1
            s["frames"] += int(a.get("n_frames") or 0)
            s["present"] += int(a.get("n_present") or 0)
        tracks[t] = entry
    return {"store": store.url, "n_tracks": len(tracks),
            "n_frames": int(sum(e["n_frames"] or 0 for e in tracks.values())),
            "models": models, "tracks": tracks}
