"""The Zarr v3 feature store: the one contract between featurizer and exprnet (docs/store.md).

::

    <store>/                          group, attrs {"format": "featurizer-store", "format_version": 1}
      tracks/<track>/                 group, attrs: n_frames, source_video, fps, label_file, ...
        timestamps                    (n,) float64 seconds (video presentation times)
        frame_present                 (n,) bool (False: label row past the video's end)
        features/<model>/             group, attrs: provenance + "complete"
          values                      (n, dim) float16 (or float32)
          present                     (n,) bool (False: filled from the nearest row)

Arrays carry Zarr v3 ``dimension_names`` (:data:`.arrays.DIMS`: ``frame``, and ``feature`` for values), so
xarray opens a track or feature group as a Dataset; stores written before they were added read
the same here (readers never need them).

An array counts only once its group's attrs say ``complete: true``, written last; anything else
(a run killed mid-write) is treated as absent and rewritten. A store whose ``format_version`` this
code does not know is refused, by writers and readers alike. Writers of a local store hold an
array's lock file (:mod:`.locks`, under ``.locks/``, which readers ignore) while they write it.
"""

from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import zarr

from .. import __version__
from .arrays import DIMS, READ_ERRORS, child_group, jsonable, put_array, rows_per_chunk, store_cast
from .errors import FormatError, StoreError
from .identity import feature_identity
from .locks import TIMELINE, StoreLocks

FORMAT = "featurizer-store"
FORMAT_VERSION = 1
SUPPORTED_VERSIONS = (1,)
# What a writer of a remote store meets when another writer of the same array deletes or makes its
# group meanwhile (fsspec's memory:// also raises RuntimeError: its dict changed while listed); the
# whole write is tried again (the last whole write wins).
RACES = (KeyError, FileNotFoundError, RuntimeError, zarr.errors.ContainsGroupError, zarr.errors.ContainsArrayError)
REMOTE_TRIES = 8
@dataclass(frozen=True)
class Feature:
    values: np.ndarray
    present: np.ndarray
    attrs: dict[str, Any]


@dataclass(frozen=True)
class FeatureInfo:
    """A complete feature array's facts, read without its values."""

    name: str
    dim: int
    dtype: str
    modality: str
    attrs: dict[str, Any]

    @property
    def identity(self) -> dict[str, Any]:
        return feature_identity(self.attrs)


class FeatureStore:
    """Open or create a store at a local path or any fsspec URL (``memory://``, ``s3://`` ...).

    ``mode="r"`` opens an existing store read-only; ``"a"`` creates it if needed.
    """

    def __init__(self, url: str | os.PathLike, mode: str = "a"):
        self.url = str(url)
        self.read_only = mode == "r"
        # file:// is a local path: zarr's LocalStore creates folders (fsspec's file store does not).
        target = self.url[len("file://"):] if self.url.startswith("file://") else self.url
        self.locks = StoreLocks(self.url)
        try:
            try:
                self.root = zarr.open_group(target, mode="r" if self.read_only else "a")
            except (zarr.errors.ContainsGroupError, zarr.errors.ContainsArrayError):
                self.root = zarr.open_group(target, mode="a")  # another writer created it meanwhile
        except (FileNotFoundError, zarr.errors.GroupNotFoundError, KeyError, ValueError) as e:
            raise StoreError(self.url, f"no feature store here ({e.__class__.__name__})",
                             "create one with `featurizer extract --out` or `featurizer import`") from None
        attrs = dict(self.root.attrs)
        fmt = attrs.get("format")
        if fmt is None and not self.read_only:
            if list(self.root.keys()) and "tracks" not in self.root:
                raise StoreError(self.url, "is a Zarr group but not a feature store")
            self.root.attrs.update({"format": FORMAT, "format_version": FORMAT_VERSION})
        elif fmt is not None and fmt != FORMAT:
            raise FormatError(self.url, f"is a {fmt!r} group, not a feature store")
        elif fmt is None and "tracks" not in self.root:
            raise StoreError(self.url, "is a Zarr group but not a feature store")
        version = attrs.get("format_version", FORMAT_VERSION)
        if version not in SUPPORTED_VERSIONS:
            raise FormatError(self.url, f"store format_version {version!r} is not supported (this "
                              f"featurizer {__version__} reads {', '.join(map(str, SUPPORTED_VERSIONS))})",
                              "upgrade featurizer and exprnet, or re-extract into a new store")
        self.format_version = int(version)
        if not self.read_only:
            child_group(self.root, "tracks")

    # -- tracks -------------------------------------------------------------------------------
    def _tracks_group(self) -> zarr.Group:
        if "tracks" not in self.root:
            return zarr.group()  # empty, in memory
        return self.root["tracks"]

    def tracks(self) -> list[str]:
        return sorted(self._tracks_group().group_keys())

    def has_track(self, track: str) -> bool:
        return track in self._tracks_group()

    def track(self, track: str) -> zarr.Group:
        g = self._tracks_group()
        if track not in g:
            raise StoreError(f"{self.url}:{track}", "track not in store",
                             f"{len(self.tracks())} tracks present; `featurizer inspect` lists them")
        return g[track]

    def track_attrs(self, track: str) -> dict[str, Any]:
        return dict(self.track(track).attrs)

    def n_frames(self, track: str) -> int:
        g = self.track(track)
        n = g.attrs.get("n_frames")
        if n is None and "timestamps" in g:
            n = g["timestamps"].shape[0]
        if n is None:
            raise StoreError(f"{self.url}:{track}", "track has neither n_frames nor timestamps",
                             "re-extract it, or `featurizer import` it again")
        return int(n)

    def timestamps(self, track: str) -> np.ndarray:
        return self.track(track)["timestamps"][:]

    def frame_present(self, track: str) -> np.ndarray:
        return self.track(track)["frame_present"][:]

    def write_timeline(
        self, track: str, timestamps: np.ndarray, frame_present: np.ndarray,
        attrs: dict[str, Any] | None = None, overwrite: bool = False,
    ) -> None:
        """Create the track's rows; an existing, different timeline needs ``overwrite``.

        Safe when several processes (Ray's audio and visual workers, two ``featurizer extract``)
        write the same timeline at once: they take turns (the track's timeline lock), nothing is
        deleted unless it differs, and ``n_frames`` lands last, marking it done.
        """
        with self.locks.held(track, TIMELINE):
            self._write_timeline(track, timestamps, frame_present, attrs, overwrite)

    def _write_timeline(self, track: str, timestamps: np.ndarray, frame_present: np.ndarray,
                        attrs: dict[str, Any] | None, overwrite: bool) -> None:
        g = self._tracks_group()
        ts = np.asarray(timestamps, np.float64)
        try:
            t = g[track]
            old = t["timestamps"][:] if "n_frames" in t.attrs else None
        except READ_ERRORS:  # absent, or being written (no n_frames yet): write it (again)
            old = None
        if old is not None:
            if len(old) == len(ts) and np.allclose(old, ts, atol=1e-6):
                return
            if not overwrite:
                raise StoreError(f"{self.url}:{track}",
                                 f"stored timeline has {len(old)} rows, this run {len(ts)}",
                                 "use --overwrite or a new store")
            del g[track]
        t = child_group(g, track)
        put_array(t, "timestamps", ts)
        put_array(t, "frame_present", np.asarray(frame_present, bool))
        t.update_attributes({**jsonable(attrs or {}), "n_frames": int(len(ts))})

    # -- features -----------------------------------------------------------------------------
    def _features(self, track: str) -> zarr.Group:
        return child_group(self.track(track), "features")

    def feature_attrs(self, track: str, model: str) -> dict[str, Any] | None:
        """Attrs of a complete feature array, else None (absent, or a write that never finished)."""
        try:
            g = self.track(track)["features"][model]
            attrs = dict(g.attrs)
        except (StoreError, *READ_ERRORS):
            return None
        return attrs if attrs.get("complete") is True else None

    def feature(self, track: str, model: str) -> FeatureInfo | None:
        """A complete feature array's facts (shape from the array itself), or None."""
        attrs = self.feature_attrs(track, model)
        if attrs is None:
            return None
        try:
            values = self.track(track)["features"][model]["values"]
        except READ_ERRORS:
            return None
        if values.ndim != 2:
            raise StoreError(f"{self.url}:{track}/{model}", f"values have shape {values.shape}, expected (n, dim)",
                             "re-extract or re-import this feature")
        return FeatureInfo(model, int(values.shape[1]), str(values.dtype), str(attrs.get("modality", "unknown")),
                           attrs)

    def is_complete(self, track: str, model: str) -> bool:
        return self.has_track(track) and self.feature_attrs(track, model) is not None

    def models(self, track: str) -> list[str]:
        """Complete feature arrays of a track."""
        t = self.track(track)
        if "features" not in t:
            return []
        return sorted(m for m in t["features"].group_keys() if self.feature_attrs(track, m))

    def write_feature(
        self, track: str, model: str, values: np.ndarray, present: np.ndarray,
        provenance: dict[str, Any], dtype: str = "float16",
    ) -> None:
        """Write (n, dim) values and the present mask; mark complete last. Holds the array's lock
        (taken again if the caller holds it: an extraction's claim)."""
        with self.locks.held(track, model):
            for attempt in range(REMOTE_TRIES):
                try:
                    return self._write_feature(track, model, values, present, provenance, dtype)
                except RACES:  # a remote store (no lock): another writer deleted or made the group meanwhile
                    if self.locks.store is not None or attempt == REMOTE_TRIES - 1:
                        raise

    def _write_feature(self, track: str, model: str, values: np.ndarray, present: np.ndarray,
                       provenance: dict[str, Any], dtype: str) -> None:
        n = self.n_frames(track)
        values = np.asarray(values)
        if values.ndim != 2 or len(values) != n or len(present) != n:
            raise StoreError(f"{self.url}:{track}/{model}",
                             f"got {values.shape} values / {len(present)} flags for {n} rows")
        cast, promoted = store_cast(values, dtype, f"{track}/{model}")
        feats = self._features(track)
        if model in feats:
            del feats[model]
        g = feats.create_group(model, attributes={"complete": False})
        dt = cast.dtype
        vals = g.create_array("values", shape=values.shape, dtype=dt, dimension_names=DIMS["values"], overwrite=True,
                              chunks=(min(max(1, n), rows_per_chunk(values.shape[1], dt.itemsize)), values.shape[1]))
        vals[:] = cast
        g.create_array("present", data=np.asarray(present, bool), chunks=(max(1, n),), overwrite=True,
                       dimension_names=DIMS["present"])
        g.update_attributes({  # one write of zarr.json; "complete" lands with it
            **jsonable(provenance),
            "dtype": dt.name,
            **({"dtype_promoted": promoted} if promoted else {}),
            "dim": int(values.shape[1]),
            "n_frames": int(n),
            "n_present": int(np.count_nonzero(present)),
            "package": f"featurizer {__version__}",
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "complete": True,
        })

    def read_feature(self, track: str, model: str) -> Feature:
        attrs = self.feature_attrs(track, model)
        if attrs is None:
            raise StoreError(f"{self.url}:{track}/{model}", "no complete feature array",
                             "run `featurizer extract` for it, or see `featurizer inspect`")
        g = self.track(track)["features"][model]
        values = g["values"][...]
        present = g["present"][...].astype(bool) if "present" in g else np.ones(len(values), bool)
        return Feature(values, present, attrs)

    def delete_feature(self, track: str, model: str) -> None:
        with self.locks.held(track, model):
            feats = self._features(track)
            if model in feats:
                del feats[model]
