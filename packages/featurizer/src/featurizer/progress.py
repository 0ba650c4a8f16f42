"""Progress reporting hooks: the pipeline calls these; the CLI renders them with rich."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def start(self, n_videos: int) -> None: ...
    def video(self, name: str, n_frames: int) -> None: ...
    def frames(self, n: int) -> None: ...
    def video_done(self) -> None: ...
    def warn(self, message: str) -> None: ...


class NoProgress:
    def start(self, n_videos: int) -> None: pass
    def video(self, name: str, n_frames: int) -> None: pass
    def frames(self, n: int) -> None: pass
    def video_done(self) -> None: pass
    def warn(self, message: str) -> None: pass
