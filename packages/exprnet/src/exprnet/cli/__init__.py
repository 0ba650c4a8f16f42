"""``exprnet``: train, cv, sweep, predict, ensemble, report, presets, reproduce, bundle, infer, live, serve.

User errors are reported once, on one line, without a traceback. The commands live in modules by
group (training, outputs, paper, deploy); this package puts them on one Typer app.
"""

from __future__ import annotations

from ..config import make_config
from ..training.memory import tune_allocator
from . import deploy, live, outputs, paper, training  # noqa: F401  (registers the commands)
from .common import app

__all__ = ["app", "main", "make_config"]


def main() -> None:
    tune_allocator()  # process-level: give training buffers back to the OS (see exprnet.training.memory)
    app()
