"""Ensemble members: run folders, and their per-frame predictions cached inside them.

A member's predictions on some tracks are cached in ``RUN/predictions/<key>/`` where ``key`` is a
digest of everything they depend on: the checkpoint file's sha256 (so retraining or continuing
the run in the same folder changes it), the store (its location, and per feature its identity and
every track array's creation stamp), the tracks, and their labels (which select the frames a run
trained with ``data.unlabelled: drop`` is scored on). ``key.json`` is written last: a prediction
killed half-way is never reused.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from featurizer.core.files import atomic_write_json
from featurizer.core.store import FeatureStore

from ..baseline.fit import baseline_file, is_baseline
from ..data.provenance import check_features
from ..errors import ConfigError
from ..prediction.predict import predict
from ..reports.progress import Reporter
from ..training.runfolder import RunFolder


@dataclass
class Member:
    run: Path
    name: str
    encoder: str
    features: list[str]


def member_info(run: str | Path) -> Member:
    """A network run (its best checkpoint exists) or an `exprnet baseline` run."""
    r = RunFolder(run)
    if not (r.best.exists() or is_baseline(run)):
        raise ConfigError(str(run), "is not a finished run folder (no checkpoints/best.pt)")
    cfg = r.read_config()
    return Member(Path(run), Path(run).name, cfg.model_name, list(cfg.data.features))


def model_checksum(m: Member, select: str) -> str:
    """sha256 of what predicts: the ``select`` checkpoint, or a baseline's one fitted model."""
    if is_baseline(m.run):
        return hashlib.sha256(baseline_file(m.run).read_bytes()).hexdigest()
    return RunFolder(m.run).checksum(select)


def store_location(store: str) -> str:
    """A local store's absolute path (so a relative path names one store), else the URL."""
    return store if "://" in store else str(Path(store).resolve())


def labels_digest(labels: Mapping[str, np.ndarray] | None, tracks: Sequence[str]) -> str | None:
    if not labels:
        return None
    h = hashlib.sha256()
    for t in tracks:
        h.update(t.encode())
        h.update(np.asarray(labels.get(t, []), np.int64).tobytes())
    return h.hexdigest()


def cache_key(m: Member, store: str, tracks: Sequence[str], select: str, labels_sha: str | None) -> dict[str, Any]:
    reader = FeatureStore(store, mode="r")
    feats: dict[str, Any] = {}
    for f in m.features:
        ident, arrays = None, []
        for t in tracks:
            info = reader.feature(t, f) if reader.has_track(t) else None
            if info is not None:
                ident = info.identity
            arrays.append(None if info is None else [t, info.attrs.get("created"), info.attrs.get("n_frames")])
        feats[f] = {"identity": ident, "arrays": arrays}
    return {"checkpoint": select, "checkpoint_sha256": model_checksum(m, select),
            "store": store_location(store), "features": feats, "tracks": list(tracks), "labels": labels_sha}


def member_probs(m: Member, store: str, tracks: Sequence[str], select: str, device: str, reporter: Reporter,
                 labels_dir: str | None = None, labels: Mapping[str, np.ndarray] | None = None,
                 allow_feature_mismatch: bool = False) -> dict[str, np.ndarray]:
    """Unsmoothed per-frame probabilities of member ``m`` (checkpoint ``select``) on ``tracks``,
    from the cache when nothing they depend on has changed (the ensemble smooths the combination)."""
    key = cache_key(m, store, tracks, select, labels_digest(labels, tracks))
    have = {f: v["identity"] for f, v in key["features"].items() if v["identity"] is not None}
    check_features(RunFolder(m.run).read_features(), have, store, str(m.run), allow_feature_mismatch)
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    cache = m.run / "predictions" / digest
    if not (cache / "key.json").exists():
        reporter.message(f"{m.name}: predicting {len(tracks)} tracks ({select} checkpoint)")
        predict(m.run, store, list(tracks), cache, select, labels_dir, device, reporter, smooth="none",
                allow_feature_mismatch=allow_feature_mismatch)
        atomic_write_json(cache / "key.json", key)
    return {t: np.load(cache / "probs" / f"{t}.npy") for t in tracks}
