"""``featurizer models``: what can be extracted, answered from registry metadata alone."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from ..core import console as say
from .common import app, io


@app.command()
def models(as_json: Annotated[bool, typer.Option("--json", help="One object per extractor (keys in docs/extractors.md).")] = False) -> None:
    """List the registered extractors: what their default weights were trained on, their licence,
    whether they stand in for the paper's, and whether they are on this machine (no network)."""
    from rich.markup import escape

    from ..models.registry import specs

    rows = [s.row() for s in specs()]
    if as_json:
        io.out.print_json(json.dumps(rows))
        return
    t = Table(title="featurizer extractors")
    for c in ("name", "modality", "dim", "trained on", "default weights", "here", "licence"):
        t.add_column(c)
    for r in rows:
        trained = r["trained_on"] or "(no weights)"
        if r["dataset"]:
            trained += f" ({r['dataset']})"
        if r["standin"]:
            trained += " [yellow](stand-in)[/]"
        here = {True: "[green]yes[/]", False: "[red]no[/]", None: "-"}[r["weights_present"]]
        t.add_row(r["name"], r["modality"], str(r["dim"]), trained, escape(r["weights"]), here,
                  escape(r["licence"]))
    io.out.print(t)
    say.message(io.out, f"{len(rows)} extractors; stand-ins run public weights in place of the "
                             "paper's unpublished ones (docs/extractors.md); 'here': default weights "
                             "on this machine (local, hub or torch cache)")
