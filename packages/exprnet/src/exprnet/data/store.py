"""Read-only access to the Zarr feature store (layout: docs/store.md).

Only feature groups whose attrs say ``complete: true`` exist for this reader; anything else (a
write that never finished) is treated as absent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import zarr

from ..errors import DataError


@dataclass(frozen=True)
class FeatureInfo:
    name: str
    dim: int
    dtype: str
    modality: str
    attrs: dict[str, Any]


class StoreReader:
    """A feature store at a local path or any fsspec URL, opened read-only."""

    def __init__(self, url: str):
        self.url = str(url)
        target = self.url[len("file://"):] if self.url.startswith("file://") else self.url
        try:
            self.root = zarr.open_group(target, mode="r")
        except (FileNotFoundError, zarr.errors.GroupNotFoundError, KeyError, ValueError) as e:
            raise DataError(self.url, f"no feature store here ({e.__class__.__name__})",
                            "make one with `featurizer extract --out` or `featurizer import`") from None
        fmt = self.root.attrs.get("format")
        if fmt is not None and fmt != "featurizer-store":
            raise DataError(self.url, f"is a {fmt!r} group, not a feature store")
        self._tracks = self.root["tracks"] if "tracks" in self.root else None

    def tracks(self) -> list[str]:
        return sorted(self._tracks.group_keys()) if self._tracks is not None else []

    def has_track(self, track: str) -> bool:
        return self._tracks is not None and track in self._tracks

    def _track(self, track: str) -> zarr.Group:
        if not self.has_track(track):
            raise DataError(f"{self.url}:{track}", "track not in store")
        return self._tracks[track]

    def n_frames(self, track: str) -> int:
        g = self._track(track)
        n = g.attrs.get("n_frames")
        if n is None:
            n = g["timestamps"].shape[0] if "timestamps" in g else None
        if n is None:
            raise DataError(f"{self.url}:{track}", "track has neither n_frames nor timestamps")
        return int(n)

    def feature(self, track: str, model: str) -> FeatureInfo | None:
        """A complete feature array's facts, or None (absent or incomplete)."""
        try:
            g = self._track(track)["features"][model]
            attrs = dict(g.attrs)
            if attrs.get("complete") is not True:
                return None
            values = g["values"]
        except (KeyError, DataError, json.JSONDecodeError, ValueError, zarr.errors.BaseZarrError):
            return None
        if values.ndim != 2:
            raise DataError(f"{self.url}:{track}/{model}", f"values have shape {values.shape}, expected (n, dim)")
        return FeatureInfo(model, int(values.shape[1]), str(values.dtype),
                           str(attrs.get("modality", "unknown")), attrs)

    def models(self, track: str) -> list[str]:
        t = self._track(track)
        if "features" not in t:
            return []
        return sorted(m for m in t["features"].group_keys() if self.feature(track, m) is not None)

    def read(self, track: str, model: str) -> tuple[np.ndarray, np.ndarray]:
        """(values (n, dim) as stored, present (n,) bool) of a complete feature."""
        if self.feature(track, model) is None:
            raise DataError(f"{self.url}:{track}", f"no complete {model!r} feature")
        g = self._track(track)["features"][model]
        values = g["values"][...]
        present = g["present"][...].astype(bool) if "present" in g else np.ones(len(values), bool)
        return values, present
