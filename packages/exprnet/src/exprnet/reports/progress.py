"""Progress reporting: a small protocol, a rich implementation, and a silent one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from featurizer.core import console as say
from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from ..config import CLASSES


class Reporter(Protocol):
    def start(self, name: str, total: int | None) -> None: ...
    def advance(self, n: int = 1, info: str = "") -> None: ...
    def update(self, done: int, total: int) -> None: ...
    def stop(self) -> None: ...
    def message(self, text: str) -> None: ...


class NullReporter:
    def start(self, name: str, total: int | None) -> None:
        pass

    def advance(self, n: int = 1, info: str = "") -> None:
        pass

    def update(self, done: int, total: int) -> None:
        pass

    def stop(self) -> None:
        pass

    def message(self, text: str) -> None:
        pass


class RichReporter:
    """One bar per phase (``epoch 3/25``, ``validate``), with a free-text field for loss and F1."""

    def __init__(self, console: Console | None = None):
        self.console = console or Console(stderr=True)
        self._progress: Progress | None = None
        self._task: Any = None

    def start(self, name: str, total: int | None) -> None:
        self.stop()
        self._progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(),
            console=self.console, transient=False)
        self._progress.start()
        self._task = self._progress.add_task(name, total=total, info="")

    def advance(self, n: int = 1, info: str = "") -> None:
        if self._progress is not None:
            self._progress.update(self._task, advance=n, info=info)

    def update(self, done: int, total: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=done, total=total)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def message(self, text: str) -> None:
        say.message(self.console, text, markup=True)


def epochs_table(history: Sequence[dict[str, Any]], best_epoch: int) -> Table:
    t = Table(title="epochs (best in bold)", box=box.SIMPLE_HEAD, pad_edge=False)
    for c in ("ep", "loss", "CE", "KL", "trainF1", "val F1", "lr", "s", "frames/s", "wait"):
        t.add_column(c, justify="right", no_wrap=True)
    for h in history:
        style = "bold green" if h["epoch"] == best_epoch else None
        t.add_row(str(h["epoch"]), f"{h['train_loss']:.3f}", f"{h['train_ce']:.3f}", f"{h['train_kl']:.3f}",
                  f"{h['train_f1']:.3f}", f"{h.get('val_score', h['val_f1']):.4f}", f"{h['lr']:.0e}", f"{h['seconds']:.1f}",
                  f"{h['frames_per_s']:.0f}", f"{100 * h['data_wait']:.0f}%", style=style)
    return t


def classes_table(per_class: Sequence[float], title: str) -> Table:
    t = Table(title=title, box=box.SIMPLE_HEAD)
    t.add_column("class")
    t.add_column("F1", justify="right")
    for c, v in zip(CLASSES, per_class, strict=True):
        t.add_row(c, f"{v:.4f}")
    t.add_row("[bold]mean[/]", f"[bold]{sum(per_class) / len(per_class):.4f}[/]")
    return t
