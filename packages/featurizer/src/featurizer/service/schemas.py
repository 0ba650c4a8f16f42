"""Request parameters and response bodies of the HTTP API (they are the OpenAPI schema)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

TRACK_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
NPZ_MEDIA_TYPE = "application/x-npz"


class FeatureParams(BaseModel):
    """Options of ``POST /v1/features``: each may come as a query parameter or a form field."""

    model_config = ConfigDict(extra="forbid")

    models: str | None = Field(
        None, max_length=4096, examples=["egemaps,fbank"],
        description="Comma-separated extractor names (see GET /v1/models). "
                    "Default: the models the server was started with.")
    dtype: Literal["float16", "float32"] | None = Field(
        None, description="Cast of the values, as `featurizer extract --dtype` stores them: float16 "
                          "(default; promoted to float32 when a value exceeds the float16 range) "
                          "or float32.")
    frames: int | None = Field(
        None, ge=1, le=10_000_000,
        description="Number of label rows. Video: rows are video frames; rows past the video's end "
                    "take its last frame and are marked not present. Audio-only: rows sit at "
                    "i / fps seconds. Default: the annotation's line count, else every video frame, "
                    "else (audio-only) ceil(audio duration * fps).")
    fps: float | None = Field(
        None, gt=0, le=1000,
        description="Audio-only uploads: frame rate of the label timeline (default 25). "
                    "Ignored for video, whose frame timestamps are used.")
    detect_every: int | None = Field(
        None, ge=1, le=100_000,
        description="Visual models: run the face detector every N frames (and where a face is lost) and "
                    "follow faces by optical flow in between, as `featurizer extract --detect-every`; "
                    "1 detects every frame. Default 10.")
    track: str | None = Field(
        None, pattern=TRACK_PATTERN,
        description="Track id (default: the uploaded file's name without its suffix). A `_left` / "
                    "`_right` suffix picks the left / right of two faces, as in Aff-Wild2.")
    format: Literal["json", "npz"] | None = Field(
        None, description="Response format; overrides the Accept header (json default, npz = "
                          f"{NPZ_MEDIA_TYPE}).")


class FormFields(FeatureParams):
    """The multipart/form-data body of ``POST /v1/features``."""

    file: bytes = Field(
        json_schema_extra={"format": "binary"},
        description="The clip: any video or audio file FFmpeg decodes (mp4, avi, mkv, webm, wav, "
                    "m4a, ...).")
    annotation: str | None = Field(
        None, description="Aff-Wild2 annotation text (header line, then one label -1..7 per line): "
                          "one row per label line. A text field or a file part.")


class TrackInfo(BaseModel):
    name: str = Field(description="Track id (the `track` parameter, else the upload's file stem).")
    frames: int = Field(description="Rows of every feature array: the label frames.")
    video_frames: int = Field(description="Frames in the video stream (0 for audio-only uploads).")
    fps: float = Field(description="Mean frame rate of the video, or the `fps` used for audio-only.")
    duration: float = Field(description="Seconds covered by the video (or the audio, if audio-only).")
    has_video: bool = Field(description="The upload has a video stream.")
    has_audio: bool = Field(description="The upload has an audio stream.")
    rows_from: Literal["video", "annotation", "frames", "audio"] = Field(
        description="What set the number of rows: the video's frames, the annotation's lines, the "
                    "`frames` parameter, or the audio's duration x fps (audio-only).")
    timestamps: list[float] = Field(
        description="(frames,) presentation time of each row, seconds (as stored in a track's "
                    "`timestamps`).")
    frame_present: list[bool] = Field(
        description="(frames,) False for rows past the end of the video (as stored in a track's "
                    "`frame_present`).")


class ModelFeatures(BaseModel):
    model: str = Field(description="Extractor name.")
    modality: Literal["audio", "visual"] = Field(description="Modality of the extractor.")
    dim: int = Field(description="Columns of `values`.")
    dtype: Literal["float16", "float32"] = Field(
        description="dtype the values were cast to (float32 if float16 was asked for but a value "
                    "exceeds its range, as in the store).")
    dtype_promoted: str | None = Field(None, description="Why float16 was promoted, if it was.")
    seconds: float = Field(
        description="Compute time of this model (the first audio model also pays for decoding the "
                    "audio).")
    n_present: int = Field(description="Rows with a real value (count of true in `present`).")
    present: list[bool] = Field(
        description="(frames,) False where the row was filled from the nearest one (no face, no "
                    "audio, past the end of the media).")
    values: list[list[float]] = Field(
        description="(frames, dim) values, row-major; exactly the stored values of "
                    "`featurizer extract` for the same clip and dtype.")
    provenance: dict[str, Any] = Field(
        description="Extractor, recipe version, weights id and sha256, layer, timing (as stored).")


class Timing(BaseModel):
    upload: float = Field(description="Seconds receiving and spooling the upload.")
    queue: float = Field(description="Seconds waiting for a free compute slot.")
    load: float = Field(description="Seconds loading models not loaded before (0 once cached).")
    compute: float = Field(description="Seconds decoding and extracting.")
    total: float = Field(description="Seconds from the request's arrival to its response.")


class FeaturesResponse(BaseModel):
    track: TrackInfo = Field(description="The track the features belong to.")
    dtype: Literal["float16", "float32"] = Field(description="The dtype asked for.")
    features: dict[str, ModelFeatures] = Field(
        description="One entry per requested model, in the requested order.")
    warnings: list[str] = Field(description="Things the client should know (no audio, no face ...).")
    timing: Timing = Field(description="Where the time went.")
    package: str = Field(description="Server package and version, e.g. `featurizer 0.1.0`.")


class ModelInfo(BaseModel):
    name: str = Field(description="Extractor name, as used in `models=`.")
    modality: Literal["audio", "visual"] = Field(description="audio or visual (visual needs video).")
    dim: int = Field(description="Columns of its feature array.")
    timing: str = Field(description="Where its rows sit in time (hop and window, or per frame).")
    weights: str = Field(description="Default weights for people: the source, where to get them, or none.")
    default_weights: str | None = Field(
        description="Default weights source (hub id or URL); null: no weights, or none public.")
    weights_present: bool | None = Field(
        description="The default weights are on the server (local path, hub or torch cache; checked "
                    "without network); null: the extractor takes no weights.")
    weights_kind: Literal["none", "public", "imagenet-standin", "public-standin", "user", "random"] = Field(
        description="What a run with the default weights records as weights_kind (user: none public, "
                    "pass your own).")
    trained_on: Literal["imagenet", "images", "faces", "affect", "speech", "audio"] | None = Field(
        description="What the default weights were trained on (null: no weights, a handcrafted feature).")
    licence: str = Field(description="Licence of the default weights (or the library).")
    paper_weights_public: bool | None = Field(
        description="For the seed paper's feature names: can the paper's feature be made with public "
                    "weights (or none)? null: not a paper feature.")
    standin: bool = Field(description="The default weights stand in for the paper's (e.g. ImageNet).")
    options: list[dict[str, Any]] = Field(description="Typed options it takes (name, type, help, choices).")
    recipe_version: str = Field(description="Version of its recipe (preprocessing, pooling).")
    description: str = Field(description="One line about it.")
    needs_weights: bool = Field(description="It needs downloaded or local weights to load.")
    loaded: bool = Field(description="Loaded in this server process (requests reuse it).")
    default: bool = Field(description="Used when a request names no models.")


class ModelsResponse(BaseModel):
    models: list[ModelInfo] = Field(description="Every registered extractor (`featurizer models`).")
    loaded: list[str] = Field(description="Names loaded in this process.")
    default: list[str] = Field(description="Names used when a request names none.")


class Health(BaseModel):
    status: Literal["ok"] = Field(description="Always `ok` when the process answers.")
    version: str = Field(description="featurizer package version.")


class ErrorBody(BaseModel):
    detail: str = Field(description="Human-readable message: what is wrong with which input, and "
                                    "what to do.")
    code: str = Field(description="Stable machine-readable error code (see docs/http.md).")
    subject: str | None = Field(None, description="The input at fault (file, field, model).")
    reason: str | None = Field(None, description="What is wrong with it.")
    hint: str | None = Field(None, description="What to do about it.")
    known_models: list[str] | None = Field(None, description="Registered models (unknown_model).")
    errors: list[dict[str, Any]] | None = Field(
        None, description="Per-field problems (invalid_parameter).")
