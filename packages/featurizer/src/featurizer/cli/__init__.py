"""``featurizer``: extract, faces, models, inspect, import, export, demo-data, serve.

Errors are reported once, on one line, without a traceback. The commands live in modules by
concept; this package puts them on one Typer app. May import every other part of featurizer;
each command imports what it runs, so ``featurizer --help`` stays light.
"""

from __future__ import annotations

import sys

from ..errors import FeaturizerError
from . import extract, faces, models, serve, store  # noqa: F401  (registers the commands)
from .common import app, fail, io

__all__ = ["app", "fail", "io", "main"]


def main() -> None:
    from ..core import console as say

    try:
        app()
    except FeaturizerError as e:  # errors are reported once, here
        say.error(io.err, e)
        sys.exit(2)
