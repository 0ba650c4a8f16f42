"""``exprnet serve --bundle B``: featurizer's service with ``POST /v1/expressions`` added.

The app is featurizer's (:func:`featurizer.service.create_app`: ``/v1/features``, ``/v1/models``,
``/healthz``, the API key, the upload limits, the queue, OpenAPI), started with the bundle's
recipe as its models; the new route goes through the same upload path
(``app.state.clips``: 413, 415, the frame cap, 503, 499, cleanup) and computes with
:class:`~exprnet.deploy.infer.Inferencer` on the server's loaded models, so its answer is what
``exprnet infer`` writes for the same file. ``/v1/live`` (:mod:`.livesocket`) carries the live
engine over a WebSocket, and ``/`` is the web page (:mod:`.page`) for both.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Query, Request
from fastapi.responses import Response
from featurizer import Collected
from pydantic import BaseModel, ConfigDict, Field

from ..tasks.names import AU_NAMES
from .bundle import Bundle
from .infer import Inferencer, TrackPrediction
from .livesocket import LiveSettings, add_live_route
from .outputs import csv_text
from .page import WebPage

CSV_MEDIA_TYPE = "text/csv"


class ExpressionParams(BaseModel):
    """Options of ``POST /v1/expressions`` (query parameters)."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["json", "csv"] = Field(
        "json", description="json (default): per track, arrays of the frames' values; csv: the "
                            "table `exprnet infer` writes (with a leading `track` column when the clip "
                            "has two people).")


class ExpressionTrack(BaseModel):
    track: str = Field(description="Track id: the file's stem, with _left/_right for two people.")
    frames: list[int] = Field(description="(n,) 1-based video frame numbers: one row per frame.")
    time: list[float] = Field(description="(n,) each frame's presentation time, seconds.")
    expression: list[str] | None = Field(None, description="(n,) the predicted class of each frame (absent when "
                                                           "the bundle has no EXPR task).")
    face: list[int] | None = Field(description="(n,) 1 where a face was detected, 0 where filled from the "
                                               "nearest; null when the bundle reads no visual feature.")
    probabilities: list[list[float]] | None = Field(None, description="(n, 8) class probabilities (rows sum to 1), "
                                                                      "in the order of `classes`.")
    valence: list[float] | None = Field(None, description="(n,) valence in [-1, 1] (only when the bundle has VA).")
    arousal: list[float] | None = Field(None, description="(n,) arousal in [-1, 1] (only when the bundle has VA).")
    au_probabilities: list[list[float]] | None = Field(
        None, description="(n, 12) each action unit's probability, in the order of `action_units` (only when the "
                          "bundle has AU).")
    au: list[list[int]] | None = Field(None, description="(n, 12) 0/1: each action unit present after its threshold "
                                                         "(`au_thresholds`), in the order of `action_units`.")


class ExpressionsResponse(BaseModel):
    bundle: str = Field(description="The bundle's id (bundle.json).")
    classes: list[str] = Field(description="The 8 classes, the columns of `probabilities`.")
    tasks: list[str] | None = Field(None, description="The bundle's tasks (expr, va, au), when it has more than "
                                                      "EXPR.")
    action_units: list[str] | None = Field(None, description="The 12 AUs, the columns of `au_probabilities` and `au` "
                                                             "(only when the bundle has AU).")
    au_thresholds: list[float] | None = Field(None, description="Each AU's threshold on its probability (only when "
                                                                "the bundle has AU).")
    video: str = Field(description="The uploaded file's name.")
    tracks: list[ExpressionTrack]
    warnings: list[str] = Field(description="Things to know (no audio, a face missing ...), once each.")
    timing: dict[str, float] = Field(description="Seconds: upload, queue, compute, total.")


def track_json(p: TrackPrediction) -> dict[str, Any]:
    """One track's fields; VA and AU ones only when the bundle has those tasks (EXPR-only: as before)."""
    d: dict[str, Any] = {"track": p.track, "frames": p.frames.tolist(), "time": [float(t) for t in p.time]}
    if p.labels is not None:
        d["expression"] = p.expression
    d["face"] = None if p.face is None else p.face.astype(int).tolist()
    if p.probabilities is not None:
        d["probabilities"] = p.probabilities.astype(float).tolist()
    if p.va is not None:
        d["valence"], d["arousal"] = p.va[:, 0].astype(float).tolist(), p.va[:, 1].astype(float).tolist()
    if p.au_probs is not None and p.au is not None:
        d["au_probabilities"], d["au"] = p.au_probs.astype(float).tolist(), p.au.astype(int).tolist()
    return d


def task_fields(bundle: Bundle) -> dict[str, Any]:
    """The response's fields about the bundle's tasks (none for an EXPR-only bundle)."""
    if bundle.tasks == ["expr"]:
        return {}
    d: dict[str, Any] = {"tasks": list(bundle.tasks)}
    if bundle.task_post.au is not None:
        d["action_units"] = list(AU_NAMES)
        d["au_thresholds"] = [float(t) for t in bundle.task_post.au.thresholds]
    return d


def tracks_csv(preds: list[TrackPrediction]) -> str:
    """One track: its CSV as ``exprnet infer`` writes it; more: the same rows behind a track column."""
    if len(preds) == 1:
        return csv_text(preds[0])
    out = []
    for k, p in enumerate(preds):
        lines = csv_text(p).splitlines()
        if k == 0:
            out.append("track," + lines[0])
        out += [f"{p.track},{ln}" for ln in lines[1:]]
    return "\n".join(out) + "\n"


def add_expressions_route(app: Any, inferencer: Inferencer) -> None:
    """``POST /v1/expressions`` on featurizer's ``app`` (its clip path, API key and errors)."""
    import time

    from featurizer.service import CLIP_ERRORS, Clip, ClipWork, Upload

    bundle = inferencer.bundle
    schema = {"type": "object", "required": ["file"], "additionalProperties": False, "properties": {"file": {
        "type": "string", "format": "binary", "description": "The video: any file FFmpeg decodes (mp4, avi, mkv, "
                                                             "webm ...), with its soundtrack when the bundle hears."}}}

    @app.post("/v1/expressions", tags=["expressions"], dependencies=app.state.clips.dependencies,
              response_model=ExpressionsResponse,
              summary="Per-frame expressions of an uploaded video, by the server's bundle.",
              responses={200: {"description": "JSON (default) or, with `format=csv`, the table `exprnet infer` "
                                              "writes.", "content": {CSV_MEDIA_TYPE: {"schema": {"type": "string"}}}},
                         **CLIP_ERRORS},
              openapi_extra={"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}})
    async def expressions(request: Request, query: Annotated[ExpressionParams, Query()]) -> Response:
        def compute(clip: Clip) -> bytes:
            t0 = time.perf_counter()
            res = inferencer.video(clip.path, str(clip.workdir / "features.zarr"), Collected(clip.cancel))
            if not res.ok:
                raise clip.refusal(res.code or "processing_failed", res.exception or res.error)
            if query.format == "csv":
                return tracks_csv(res.tracks).encode()
            timing = {"upload": clip.seconds["upload"], "queue": clip.seconds["queue"],
                      "compute": time.perf_counter() - t0, "total": time.perf_counter() - clip.seconds["start"]}
            doc = {"bundle": bundle.id, "classes": bundle.classes, **task_fields(bundle), "video": clip.filename,
                   "tracks": [track_json(p) for p in res.tracks],
                   "warnings": [clip.named(w) for w in res.warnings], "timing": timing}
            return json.dumps(doc, separators=(",", ":"), allow_nan=False).encode()

        def prepare(upload: Upload) -> ClipWork:
            return ClipWork(compute, CSV_MEDIA_TYPE if query.format == "csv" else "application/json")

        return await app.state.clips.run(request, prepare, fields=())  # the file, nothing else


def create_expressions_app(bundle_dir: str | Path, weights: Mapping[str, str] | None = None, device: str = "cpu",
                           trusted_keys: Any = None, live: LiveSettings | None = None, **settings: Any) -> Any:
    """featurizer's app with the bundle's recipe loaded, ``/v1/expressions``, ``/v1/live`` and the
    page added (``settings``: more :class:`featurizer.service.Settings` fields: api_key,
    max_upload_mb, max_concurrency ...; ``trusted_keys``: serve the bundle only if one of these keys
    signed it, as ``Bundle.load``; ``live``: the live route's limits)."""
    from featurizer.service import Settings, create_app

    bundle = Bundle.load(bundle_dir, device=device, trusted_keys=trusted_keys)
    recipe = bundle.recipe
    s = Settings.from_env(models=recipe.models, weights=dict(weights or {}) or None, device=device,
                          options=recipe.options() or None, **settings)
    app = create_app(s)
    inferencer = Inferencer(bundle, s.weights, device, cache=app.state.cache, shared=True)
    inferencer.load()  # every model of the recipe, checked against it, before the first request
    app.state.inferencer = inferencer
    add_expressions_route(app, inferencer)
    add_live_route(app, inferencer, live or LiveSettings())
    app.add_middleware(WebPage, config={"api_key_required": bool(s.api_key), "max_upload_mb": s.max_upload_mb})
    return app
