"""The one progress vocabulary of an extraction run, and its renderings.

exprnet has its own reporter (:mod:`exprnet.reports.progress`) because it reports other events
(training phases and epochs, not videos and frames) and exprnet may import only featurizer's core;
both print their one-line messages through the core's :mod:`~featurizer.core.console`.

The pipeline (local or on Ray) calls a :class:`Progress`; the CLI draws it as rich bars
(:class:`RichProgress`), the HTTP service keeps what a response needs (:class:`Collected`).
"""

from __future__ import annotations

import contextlib
import threading
import warnings
from collections.abc import Iterator
from typing import Any, Protocol

from .core import console as say


class Progress(Protocol):
    def start(self, n_videos: int) -> None:
        """The run has ``n_videos`` source videos to extract."""

    def problem(self, subject: str, reason: str) -> None:
        """An input refused before extraction (missing, unreadable, unmapped); the run goes on."""

    def video(self, name: str, n_frames: int) -> None:
        """Extraction of one source video (``n_frames`` label rows over its tracks) begins."""

    def frames(self, n: int) -> None:
        """``n`` more face crops went through the visual models."""

    def feature(self, track: str, model: str, seconds: float) -> None:
        """One (track, model) array computed in ``seconds``."""

    def video_done(self) -> None:
        """The current source video is finished (done, skipped or failed)."""

    def warn(self, message: str) -> None:
        """Something the user should know (no audio, no face ...); not an error."""

    def note(self, message: str) -> None:
        """What the run is doing meanwhile (waiting for another writer of the store)."""

    def cancelled(self) -> bool:
        """True when the result is no longer wanted (an HTTP client left): the run stops before
        its next array."""


class NoProgress:
    """Every hook a no-op: the base of the renderings."""

    def start(self, n_videos: int) -> None:
        pass

    def problem(self, subject: str, reason: str) -> None:
        pass

    def video(self, name: str, n_frames: int) -> None:
        pass

    def frames(self, n: int) -> None:
        pass

    def feature(self, track: str, model: str, seconds: float) -> None:
        pass

    def video_done(self) -> None:
        pass

    def warn(self, message: str) -> None:
        pass

    def note(self, message: str) -> None:
        pass

    def cancelled(self) -> bool:
        return False


class Collected(NoProgress):
    """Keeps the warnings (once each) and each array's seconds; ``cancel`` stops the run.

    The HTTP service answers with them; Ray workers send them back to the driver.
    """

    def __init__(self, cancel: threading.Event | None = None) -> None:
        self.warnings: list[str] = []
        self.seconds: dict[tuple[str, str], float] = {}
        self.cancel = cancel

    def feature(self, track: str, model: str, seconds: float) -> None:
        self.seconds[(track, model)] = seconds

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    def cancelled(self) -> bool:
        return self.cancel is not None and self.cancel.is_set()


class RichProgress(NoProgress):
    """Two rich bars (videos, frames); problems and warnings as one-line messages above them."""

    def __init__(self, console: Any):
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as Bars

        self.p = Bars(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False)
        self.warnings: list[str] = []
        self._start = self._n = 0

    def __enter__(self) -> RichProgress:
        self.p.__enter__()
        self.videos = self.p.add_task("videos", total=None)
        self.frames_task = self.p.add_task("frames", total=0)
        return self

    def __exit__(self, *exc: object) -> None:
        self.p.__exit__(*exc)

    def start(self, n_videos: int) -> None:
        self.p.update(self.videos, total=n_videos)

    def problem(self, subject: str, reason: str) -> None:
        say.line(self.p.console, "problem", f"{subject}: {reason}")

    def video(self, name: str, n_frames: int) -> None:
        self.p.update(self.videos, description=f"videos ({name})")
        self._start = self.p.tasks[self.frames_task].completed
        self._n = n_frames
        self.p.update(self.frames_task, total=(self.p.tasks[self.frames_task].total or 0) + n_frames)

    def frames(self, n: int) -> None:
        self.p.advance(self.frames_task, n)

    def video_done(self) -> None:
        self.p.advance(self.videos)
        self.p.update(self.frames_task, completed=self._start + self._n)
        self._start, self._n = self.p.tasks[self.frames_task].completed, 0

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)
            say.warning(self.p.console, message)

    def note(self, message: str) -> None:
        say.line(self.p.console, "note", message)


@contextlib.contextmanager
def warnings_to(progress: Progress, capture: bool = True) -> Iterator[None]:
    """Python warnings raised inside (a checkpoint that is not the named architecture, unreadable
    crops ...) reach ``progress.warn``, one line each. This changes process-wide state, so runs
    that share their process with others pass ``capture=False``."""
    if not capture:
        yield
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            for w in caught:
                progress.warn(str(w.message))
