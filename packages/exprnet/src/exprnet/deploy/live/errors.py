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
