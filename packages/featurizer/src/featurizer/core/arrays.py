"""How the store writes its Zarr v3 arrays: chunk sizes, the stored dtype, dimension names,
groups and 1-d arrays that concurrent writers may race on, JSON-safe attributes."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import zarr

from .errors import StoreError

CHUNK_BYTES = 8 << 20
# Zarr v3 dimension names of each array (xarray's dims): rows are label frames everywhere.
DIMS = {"timestamps": ("frame",), "frame_present": ("frame",), "values": ("frame", "feature"),
        "present": ("frame",)}
# What reading a half-written group or chunk can raise.
READ_ERRORS = (KeyError, json.JSONDecodeError, ValueError, OSError, RuntimeError, zarr.errors.BaseZarrError)


def rows_per_chunk(dim: int, itemsize: int) -> int:
    return max(256, CHUNK_BYTES // max(1, dim * itemsize))


def store_cast(values: np.ndarray, dtype: str, subject: str) -> tuple[np.ndarray, str | None]:
    """Values as the store keeps them: ``dtype``, but float32 where a value exceeds float16's range.

    Returns the cast values and why the dtype was promoted (None if it was not).
    """
    values = np.asarray(values)
    if not np.isfinite(values).all():
        raise StoreError(subject, "values contain NaN or inf")
    dt = np.dtype(dtype)
    promoted = None
    if dt == np.float16 and values.size and np.abs(values).max() > np.finfo(np.float16).max:
        dt, promoted = np.dtype("float32"), "values exceed the float16 range"
    return values.astype(dt), promoted


def child_group(parent: zarr.Group, name: str) -> zarr.Group:
    """``parent[name]``, created if absent; another process creating it meanwhile is fine."""
    try:
        return parent.require_group(name)
    except (zarr.errors.ContainsGroupError, zarr.errors.ContainsArrayError):
        return parent[name]


def put_array(g: zarr.Group, name: str, data: np.ndarray) -> None:
    """Write a whole 1-d array in place; writers of equal data may race (chunk writes are atomic)."""
    try:
        a = g[name]
        if a.shape != data.shape or a.dtype != data.dtype:
            del g[name]
            a = None
    except READ_ERRORS:  # absent, or half-made metadata (another writer is at it, or one was killed)
        a = None
    if a is None:
        try:
            a = g.create_array(name, shape=data.shape, dtype=data.dtype, chunks=(max(1, len(data)),),
                               dimension_names=DIMS.get(name))
        except (zarr.errors.ContainsArrayError, zarr.errors.ContainsGroupError):
            a = g[name]
    a[:] = data


def jsonable(d: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(d, default=lambda o: o.item() if hasattr(o, "item") else str(o)))
