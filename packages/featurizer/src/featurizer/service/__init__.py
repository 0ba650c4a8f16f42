"""``featurizer serve``: the HTTP service (FastAPI) over the same pipeline as ``featurizer extract``.

``create_app(settings)`` builds the app; ``app_from_env`` is the factory for any ASGI server
(``uvicorn --factory featurizer.service:app_from_env``). The API is documented in docs/http.md.

Other packages add clip routes to the app through the same upload path as ``/v1/features``:
``await app.state.clips.run(request, prepare, fields=())`` with ``prepare(upload) ->
ClipWork(compute, media_type)``, ``compute(clip: Clip) -> bytes`` (exprnet's
``/v1/expressions``); ``app.state.clips.dependencies`` and :data:`CLIP_ERRORS` give the route the
service's API key and documented errors, :class:`ApiError` its one-line errors;
:class:`ApiKeyMiddleware` checks the key for routes the middleware does not see (WebSockets).

Modules: ``app`` (routes), ``clips`` (a clip route's life), ``uploads`` (multipart spooling),
``request`` (what ``/v1/features`` computes), ``gate`` (concurrency and queue), ``auth``,
``params``/``schemas``/``openapi`` (parameters and the schema), ``encode``, ``errors``,
``settings``. May import every other part of featurizer.
"""

from .app import app_from_env, create_app
from .auth import ApiKeyMiddleware
from .clips import Clip, ClipWork
from .errors import ApiError
from .params import CLIP_ERRORS
from .settings import Settings
from .uploads import Upload

__all__ = ["CLIP_ERRORS", "ApiError", "ApiKeyMiddleware", "Clip", "ClipWork", "Settings", "Upload", "app_from_env", "create_app"]
