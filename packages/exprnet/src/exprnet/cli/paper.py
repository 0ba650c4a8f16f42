"""Commands about the shipped configurations and the paper: ``presets`` (and ``reproduce``)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from ..presets import list_presets
from .common import app, io, user_errors


@app.command()
def presets(json_: Annotated[bool, typer.Option("--json", help="Print a JSON list: name, encoder, features, "
                                                              "paper, config (fully resolved).")] = False) -> None:
    """List the shipped presets (one per row of the paper's Tables 1, 3 and 4, and the demos)."""
    with user_errors():
        items = list_presets()
        if json_:
            typer.echo(json.dumps(items, indent=2))
            return
        t = Table(title="presets (exprnet train --preset NAME; --json for the configs)")
        t.add_column("name", no_wrap=True)
        t.add_column("encoder", no_wrap=True)
        t.add_column("paper F1", no_wrap=True)
        t.add_column("features")
        for p in items:
            t.add_row(p["name"], p["encoder"], f"{p['paper']['f1']:.5f}" if p["paper"] else "-",
                      ",".join(p["features"]))
        io.out.print(t)
