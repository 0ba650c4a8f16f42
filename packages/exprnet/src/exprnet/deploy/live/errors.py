"""The live engine's one error: bad input (one line, naming what was wrong); the engine stays usable."""

from __future__ import annotations


class LiveError(ValueError):
    """A frame, audio chunk or call the live engine refuses; its message is one line."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))
