"""Starting Ray the same way from both packages (``--executor ray``).

A local Ray cluster puts AF_UNIX sockets below its temp dir (``$TMPDIR/ray/session_<time>/
sockets/plasma_store``), and Linux refuses socket paths over 107 bytes: a long ``TMPDIR`` (CI
sandboxes, pytest's tmp paths) makes ``ray.init`` fail. Local clusters then get a short temp dir.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

# what Ray appends below its temp dir, e.g. /session_2026-11-28_22-53-16_990765_7046/sockets/plasma_store
_SESSION_SUFFIX = 70
_SOCKET_MAX = 107


def ray_temp_dir() -> str | None:
    """A temp dir for a local cluster when the default one is too long for Ray's sockets, else None."""
    default = os.path.join(tempfile.gettempdir(), "ray")
    if len(default.encode()) + _SESSION_SUFFIX <= _SOCKET_MAX:
        return None
    return f"/tmp/ray-{os.getuid()}"


def start_ray(address: str | None = None, **kwargs: Any) -> bool:
    """``ray.init`` unless Ray runs already; returns whether this call started it (then the caller
    shuts it down). ``address=None`` starts a local cluster."""
    import ray

    if ray.is_initialized():
        return False
    short = ray_temp_dir() if address is None else None
    if short and "_temp_dir" not in kwargs:
        kwargs["_temp_dir"] = short
    kwargs.setdefault("include_dashboard", False)
    kwargs.setdefault("log_to_driver", False)
    ray.init(address=address, **kwargs)
    return True
