"""The web page of ``exprnet serve`` (``/``, ``/web/*``):
static files shipped in the package (``deploy/web/``), served without the API key (they hold no
data; the page asks for the key and sends it with its requests). Plain JavaScript, no build step,
nothing fetched from elsewhere."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

FILES = {"/": ("index.html", "text/html; charset=utf-8"),
         "/web/app.js": ("app.js", "text/javascript; charset=utf-8"),
         "/web/style.css": ("style.css", "text/css; charset=utf-8"),
         "/web/pcm-worklet.js": ("pcm-worklet.js", "text/javascript; charset=utf-8")}


def page_files() -> dict[str, tuple[bytes, str]]:
    web = resources.files("exprnet.deploy") / "web"
    return {path: (web.joinpath(name).read_bytes(), media) for path, (name, media) in FILES.items()}


class WebPage:
    """Outermost middleware: answers GET/HEAD of the page's paths, passes everything else on."""

    def __init__(self, app: ASGIApp, config: dict[str, Any]):
        self.app = app
        self.files = page_files()
        self.files["/web/config.json"] = (json.dumps(config).encode(), "application/json")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hit = self.files.get(scope["path"]) if scope["type"] == "http" else None
        if hit is None or scope["method"] not in ("GET", "HEAD"):
            return await self.app(scope, receive, send)
        body, media = hit
        headers = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff",
                   "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; "
                                              "media-src 'self' blob:; connect-src 'self' ws: wss:; "
                                              "style-src 'self'; script-src 'self'"}
        resp = Response(body if scope["method"] == "GET" else b"", media_type=media, headers=headers)
        if scope["method"] == "HEAD":
            resp.headers["Content-Length"] = str(len(body))
        await resp(scope, receive, send)
