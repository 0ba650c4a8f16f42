"""The live engine's one error: bad input (one line, naming what was wrong); the engine stays usable."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import ExprnetError


class LiveError(ExprnetError, ValueError):
    """A frame, audio chunk or call the live engine refuses; its message is one line (a ValueError,
    and an exprnet input error, so the CLI reports it once)."""

    def __init__(self, message: str):
        one = " ".join(str(message).split())
        Exception.__init__(self, one)
        self.subject, self.reason, self.hint = "live", one, None

    def __str__(self) -> str:
        return self.reason

    def __reduce__(self) -> tuple:
        return self.__class__, (self.reason,)


def timestamp(t: Any, what: str) -> float:
    """A pushed timestamp as seconds (finite, 0 or more), else a one-line LiveError naming it."""
    try:
        v = float(t)
    except (TypeError, ValueError):
        raise LiveError(f"{what} timestamp {t!r} is not a number of seconds") from None
    if not np.isfinite(v) or v < 0:
        raise LiveError(f"{what} timestamp {t!r} must be a finite number of seconds, 0 or more")
    return v


def image(t: float, rgb: Any) -> np.ndarray:
    """A pushed frame as an RGB uint8 array, else a one-line LiveError."""
    a = np.asarray(rgb) if isinstance(rgb, np.ndarray) else None
    if a is None or a.ndim != 3 or a.shape[2] != 3 or a.dtype != np.uint8 or min(a.shape[:2]) < 8:
        what = f"an array of shape {a.shape} and dtype {a.dtype}" if a is not None else type(rgb).__name__
        raise LiveError(f"frame at {t:g} s is not an image ({what}); give an RGB uint8 array (height, width, 3)")
    return a


def samples(t: float, pcm: Any) -> np.ndarray:
    """Pushed audio as 1-D finite float samples, else a one-line LiveError."""
    x = np.asarray(pcm)
    if x.ndim != 1 or x.dtype.kind != "f" or not np.isfinite(x).all():
        raise LiveError(f"audio at {t:g} s is not mono float samples (shape {x.shape}, {x.dtype}); "
                        "give a 1-D float32 array in [-1, 1]")
    return x
