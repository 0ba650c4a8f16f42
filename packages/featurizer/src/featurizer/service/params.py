"""Request parameters: query and form merged and validated, model names, track name, format;
and what the OpenAPI schema says about the multipart body and the error responses."""

from __future__ import annotations

from typing import Any

from fastapi.encoders import jsonable_encoder
from pydantic import ValidationError

from ..models.registry import parse_model_list
from .errors import ApiError
from .schemas import NPZ_MEDIA_TYPE, ErrorBody, FeatureParams, FormFields


def wants_npz(params: FeatureParams, accept: str | None) -> bool:
    if params.format is not None:
        return params.format == "npz"
    return NPZ_MEDIA_TYPE in (accept or "").lower()


def resolve_models(text: str | None, default: list[str], allowed: list[str] | None = None,
                   variants: bool = False) -> list[str]:
    """The request's models (else ``default``); each registered, and one of ``allowed`` if set
    (``variants``: ``NAME:X`` too when ``NAME`` is)."""
    names = [n.strip() for n in (text or "").split(",") if n.strip()]
    out = parse_model_list(names) if names else list(default)
    ok = set(allowed or ())
    refused = [n for n in out if allowed is not None and n not in ok
               and not (variants and n.partition(":")[0] in ok)]
    if refused:
        why = "" if not variants else " (models whose weights are on the server or that need none; its " \
                                      "operator adds others with --weights NAME=PATH or --allowed-models)"
        raise ApiError(422, "unknown_model", f"{', '.join(refused)}: not served here", subject="models",
                       hint=f"this server serves: {', '.join(allowed or [])}{why}", known_models=sorted(ok))
    return out


def merge_params(query: FeatureParams, fields: dict[str, str]) -> FeatureParams:
    merged: dict[str, Any] = query.model_dump(exclude_unset=True, exclude_none=True)
    for k, v in fields.items():
        if k == "annotation":
            continue
        if k in merged and str(merged[k]) != v:
            raise ApiError(422, "invalid_parameter", f"{k!r} given as query parameter ({merged[k]}) "
                           f"and form field ({v}) with different values", subject=k)
        merged[k] = v
    try:
        return FeatureParams.model_validate(merged)
    except ValidationError as e:
        raise validation_error(e.errors(include_url=False, include_context=False)) from None


def validation_error(errors: list[Any]) -> ApiError:
    errs = jsonable_encoder(errors)
    parts = []
    for err in errs:
        loc = ".".join(str(x) for x in err.get("loc", ()) if x not in ("query", "body"))
        parts.append(f"{loc or 'request'}: {err.get('msg')}")
    return ApiError(422, "invalid_parameter", "; ".join(parts) or "invalid request",
                    subject="parameters", errors=errs)


def form_schema() -> dict[str, Any]:
    """The multipart body's schema, from :class:`FormFields` (non-null types: forms have no null)."""
    schema = FormFields.model_json_schema()
    schema.pop("title", None)
    for prop in schema["properties"].values():
        alts = prop.pop("anyOf", None)
        if alts:
            prop.update(next(a for a in alts if a.get("type") != "null"))
        prop.pop("default", None)
        prop.pop("title", None)
    schema["properties"]["file"] = {"type": "string", "format": "binary",
                                    "description": schema["properties"]["file"]["description"]}
    return schema


ERRORS: dict[int | str, dict[str, Any]] = {  # documented error responses of every route
    401: {"model": ErrorBody, "description": "Missing or wrong API key (when the server has one)."},
    422: {"model": ErrorBody, "description": "Invalid parameter, unknown model, undecodable or "
                                             "unusable media, bad annotation."},
}
CLIP_ERRORS: dict[int | str, dict[str, Any]] = {  # ... and of POST /v1/features
    **ERRORS,
    400: {"model": ErrorBody, "description": "Malformed multipart body."},
    413: {"model": ErrorBody, "description": "Upload (or a form field) larger than the limit."},
    415: {"model": ErrorBody, "description": "Body is not multipart/form-data, or the file is not "
                                             "a video or audio file FFmpeg can read."},
    503: {"model": ErrorBody, "description": "Busy (with Retry-After), or a model's weights are "
                                             "missing (code weights_unavailable)."},
}
