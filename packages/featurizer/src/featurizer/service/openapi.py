"""The OpenAPI schema as this server enforces it: what a request may name (the models it serves),
the limits it was started with (rows, field sizes), the annotation's grammar, and each option in
one place (the query), so a request valid under the schema is one the server accepts.

FastAPI derives the schema from :mod:`.schemas`; :func:`tailor` narrows it with the server's
settings. What no schema can say stays in docs/http.md: the file's content must be media FFmpeg
decodes, visual models need a video stream, and an audio-only upload's rows (duration x fps) count
against the row limit.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ..core.classes import EXPR_CLASSES
from .settings import Settings

FEATURES = "/v1/features"
# Options the schema lists as query parameters; the form (multipart body) holds the rest.
QUERY_ONLY = ("models", "dtype", "fps", "detect_every", "track", "format")
FORM_ONLY = ("file", "annotation", "frames")


def names_pattern(names: Sequence[str]) -> str:
    """``^(a|b)(,(a|b))*$``: one or more of ``names``, comma-separated."""
    one = "|".join(re.escape(n) for n in sorted(names, key=lambda n: (-len(n), n)))
    return f"^({one})(,({one}))*$"


def annotation_pattern(max_rows: int) -> str:
    """The Aff-Wild2 class header, then 1..``max_rows`` labels (-1..7), one per line."""
    return rf"^{','.join(EXPR_CLASSES)}(\r?\n(-1|[0-7])){{1,{max_rows}}}(\r?\n)?$"


def _plain(param: dict[str, Any]) -> dict[str, Any]:
    """A query parameter's schema without pydantic's ``anyOf [T, null]`` (a query has no null)."""
    schema = param["schema"]
    alts = schema.pop("anyOf", None)
    if alts:
        schema.update(next(a for a in alts if a.get("type") != "null"))
    return schema


def tailor(schema: dict[str, Any], settings: Settings, default_models: Sequence[str],
           servable: Sequence[str], registered: Sequence[str]) -> dict[str, Any]:
    """Narrow FastAPI's ``schema`` (in place) to what a server with ``settings`` accepts.

    ``servable``: the model names a request may give (their pattern); ``registered``: the names
    ``GET /v1/models/{name}`` knows (an enumeration).
    """
    op = schema["paths"][FEATURES]["post"]
    params = [p for p in op["parameters"] if p["in"] != "query" or p["name"] in QUERY_ONLY]
    for p in params:
        if p["in"] == "query":
            _plain(p)
    models = next(p for p in params if p["name"] == "models")
    models["schema"]["pattern"] = names_pattern(servable)
    models["schema"]["minLength"] = 1
    if not default_models:
        models["required"] = True
        models["description"] = models["schema"]["description"] = (
            "Comma-separated extractor names (see GET /v1/models); required: this server has no "
            "default models.")
    op["parameters"] = params
    form = op["requestBody"]["content"]["multipart/form-data"]["schema"]
    form["properties"] = {k: v for k, v in form["properties"].items() if k in FORM_ONLY}
    frames = form["properties"]["frames"]
    frames["maximum"] = settings.max_frames
    frames["description"] += " Give it or `annotation`, not both."
    form["properties"]["annotation"].update(
        pattern=annotation_pattern(settings.max_frames), maxLength=settings.max_field_kb * 1024)
    form["not"] = {"required": ["frames", "annotation"]}  # rows from one of them
    name = next(p for p in schema["paths"]["/v1/models/{name}"]["get"]["parameters"] if p["name"] == "name")
    name["schema"]["enum"] = sorted(registered)
    name["description"] = "A registered extractor's name (GET /v1/models lists them)."
    return schema
