"""The API key: checked by a middleware on every route but the open ones (constant time)."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import Security
from fastapi.security import APIKeyHeader, HTTPBearer
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from .encode import error_response
from .errors import ApiError

OPEN_PATHS = frozenset({"/healthz"})
DOC_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})


class ApiKeyMiddleware:
    """Every route but /healthz (and the docs, if public) needs the key: ``X-API-Key: KEY`` or
    ``Authorization: Bearer KEY``. Compared in constant time."""

    def __init__(self, app: ASGIApp, key: str, open_paths: frozenset[str]):
        self.app = app
        self.key = key.encode("utf-8")
        self.open_paths = open_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.open_paths:
            return await self.app(scope, receive, send)
        err = self.refusal(Headers(scope=scope))
        if err is not None:
            resp = error_response(err)
            resp.headers["WWW-Authenticate"] = 'Bearer realm="featurizer"'
            return await resp(scope, receive, send)
        return await self.app(scope, receive, send)

    def refusal(self, h: Headers) -> ApiError | None:
        """None for the right key; else the 401, naming the header the client sent it in."""
        hint = "send header X-API-Key: KEY or Authorization: Bearer KEY"
        supplied, header = h.get("x-api-key"), "X-API-Key"
        auth = h.get("authorization")
        if supplied is None and auth is not None:
            scheme, _, token = auth.strip().partition(" ")
            if scheme.lower() != "bearer":
                return ApiError(401, "unauthorized", f"{scheme or 'an empty value'} credentials are not an API "
                                "key", subject="Authorization", hint=hint)
            supplied, header = token.strip(), "Authorization: Bearer"
        if supplied is None:
            return ApiError(401, "unauthorized", "missing", subject="API key", hint=hint)
        if not hmac.compare_digest(supplied.encode("latin-1", "replace"), self.key):
            return ApiError(401, "unauthorized", "wrong API key", subject=header, hint=hint)
        return None


_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False,
                               description="The server's API key (featurizer serve --api-key).")
_bearer = HTTPBearer(auto_error=False, description="The server's API key as a bearer token.")


async def documented_auth(_k: Annotated[str | None, Security(_api_key_header)] = None,
                           _b: Annotated[Any, Security(_bearer)] = None) -> None:
    """Only puts the two schemes in the OpenAPI schema; ApiKeyMiddleware enforces them."""
