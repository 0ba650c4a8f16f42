"""What every featurizer command shares: the Typer app, its consoles, one-line errors."""

from __future__ import annotations

from typing import Annotated, NoReturn

import typer

from ..core import console as say
from ..errors import FeaturizerError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  rich_markup_mode=say.markup_mode(),
                  help="Turn videos into per-label-frame feature arrays in a Zarr store.")
io = say.Consoles()

DetectEvery = Annotated[str | None, typer.Option(
    metavar="N", show_default=False,
    help="Run the face detector every N frames (and where a face is lost), following faces by optical flow in "
         "between; 1 detects every frame. Default 10 (docs/faces.md).")]


@app.callback()
def _consoles() -> None:
    io.renew()


def fail(e: FeaturizerError) -> NoReturn:
    """Report ``e`` once, on one line, on stderr, and exit 2."""
    say.error(io.err, e)
    raise typer.Exit(2)
