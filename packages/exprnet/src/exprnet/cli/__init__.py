"""``exprnet``: train, cv, sweep, predict, ensemble, report, presets, reproduce.

User errors are reported once, on one line, without a traceback. The commands live in modules by
group (training, outputs, paper); this package puts them on one Typer app.
"""

from __future__ import annotations

from ..training.memory import tune_allocator
from . import outputs, paper, training  # noqa: F401  (registers the commands)
from .common import app, make_config

__all__ = ["app", "main", "make_config"]


def main() -> None:
    tune_allocator()  # process-level: give training buffers back to the OS (see exprnet.training.memory)
    app()
