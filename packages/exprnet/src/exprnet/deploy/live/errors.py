"""The live engine's one error: bad input (one line, naming what was wrong); the engine stays usable."""

from __future__ import annotations

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
