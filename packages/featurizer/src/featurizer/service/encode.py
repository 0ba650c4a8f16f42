"""Response bodies: errors, and a request's features as JSON or ``.npz``."""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from .errors import ApiError
from .request import JobResult


def error_response(e: ApiError) -> JSONResponse:
    return JSONResponse(jsonable_encoder(e.body()), status_code=e.status, headers=e.headers)


def _json_default(o: Any) -> Any:
    return o.item() if hasattr(o, "item") else str(o)


def _document(res: JobResult, dtype: str, timing: dict[str, float], arrays: bool) -> dict[str, Any]:
    track = dict(res.track)
    if arrays:
        track["timestamps"] = res.timestamps.tolist()
        track["frame_present"] = res.frame_present.tolist()
    feats = {}
    for r in res.features:
        f = {"model": r.model, "modality": r.modality, "dim": int(r.values.shape[1]),
             "dtype": r.values.dtype.name, "dtype_promoted": r.dtype_promoted,
             "seconds": round(r.seconds, 6), "n_present": int(np.count_nonzero(r.present)),
             "provenance": r.provenance}
        if arrays:
            f["present"] = r.present.tolist()
            f["values"] = r.values.tolist()
        feats[r.model] = f
    return {"track": track, "dtype": dtype, "features": feats, "warnings": res.warnings,
            "timing": {k: round(v, 6) for k, v in timing.items()}, "package": res.package}


def encode_json(res: JobResult, dtype: str, timing: dict[str, float]) -> bytes:
    doc = _document(res, dtype, timing, arrays=True)
    return json.dumps(doc, separators=(",", ":"), allow_nan=False, default=_json_default).encode()


def encode_npz(res: JobResult, dtype: str, timing: dict[str, float]) -> bytes:
    """``timestamps``, ``frame_present``, ``<model>/values``, ``<model>/present`` and ``meta`` (the
    JSON document without the arrays, as a 0-d unicode array: no pickle needed to read it)."""
    meta = json.dumps(_document(res, dtype, timing, arrays=False), default=_json_default)
    arrays: dict[str, np.ndarray] = {"timestamps": res.timestamps,
                                     "frame_present": res.frame_present, "meta": np.array(meta)}
    for r in res.features:
        arrays[f"{r.model}/values"] = r.values
        arrays[f"{r.model}/present"] = r.present
    buf = io.BytesIO()
    np.savez(buf, allow_pickle=False, **arrays)
    return buf.getvalue()
