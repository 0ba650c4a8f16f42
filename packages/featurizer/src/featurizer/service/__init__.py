"""``featurizer serve``: the HTTP service (FastAPI) over the same pipeline as ``featurizer extract``.

``create_app(settings)`` builds the app; ``app_from_env`` is the factory for any ASGI server
(``uvicorn --factory featurizer.service:app_from_env``). The API is documented in docs/http.md.
"""

from .app import app_from_env, create_app
from .settings import Settings

__all__ = ["Settings", "app_from_env", "create_app"]
