"""One-line messages for both CLIs: errors and warnings never wrap, whatever the width.

Rich wraps text at the console width (80 columns when stderr is not a terminal, or ``COLUMNS``);
a message broken over lines is lost to ``grep`` and log parsers. Tables and progress bars may
wrap; messages printed here never do, and markup in the message text is shown literally.
"""

from __future__ import annotations

from typing import Any

STYLES = {"error": "bold red", "warning": "yellow", "failed": "red", "problem": "red", "note": "bold"}


def line(console: Any, label: str, text: object) -> None:
    """``label: text`` on one unbroken line (``text`` printed verbatim)."""
    from rich.markup import escape

    style = STYLES.get(label, "bold")
    console.print(f"[{style}]{escape(label)}[/]: {escape(str(text))}", soft_wrap=True, highlight=False)


def message(console: Any, text: object, markup: bool = False) -> None:
    """A plain message on one unbroken line; ``markup=True`` keeps rich markup in ``text`` (the
    caller escapes what came from outside)."""
    if not markup:
        from rich.markup import escape

        text = escape(str(text))
    console.print(text, soft_wrap=True, highlight=False)


def error(console: Any, e: BaseException | str) -> None:
    line(console, "error", e)


def warning(console: Any, message: object) -> None:
    line(console, "warning", message)


def markup_mode() -> str | None:
    """Typer's ``rich_markup_mode``: rich panels on a terminal; plain, one-line usage errors
    (``Error: No such option ...``) when stderr is a pipe or a log."""
    import sys

    return "rich" if sys.stderr.isatty() else None


class Consoles:
    """A CLI's stdout and stderr consoles; ``renew()`` (called per invocation) makes them take that
    call's width (``COLUMNS``) rather than the one at import."""

    def __init__(self) -> None:
        self.renew()

    def renew(self) -> None:
        from rich.console import Console

        self.out, self.err = Console(), Console(stderr=True)
