"""Commands about the shipped configurations and the paper: ``presets`` (and ``reproduce``)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from featurizer.core import console as say
from rich.table import Table

from ..config.presets import list_presets
from ..paper.tables import table_rows
from ..reports.progress import RichReporter
from .common import Sets, app, io, user_errors

if TYPE_CHECKING:  # torch-free at import: `exprnet --help` stays fast
    from ..paper.plan import Plan


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


@app.command()
def reproduce(
    table: Annotated[str, typer.Argument(help="1, 2, 3, 4 or all (the paper's EXPR tables; --labels EXPR_Set), or "
                                               "va (the authors' VA model, preset va-paper; --labels VA_Set).")],
    store: Annotated[str, typer.Option(help="Feature store with the paper's features (or stand-ins).")],
    labels: Annotated[str, typer.Option(help="Annotation folder (Train_Set/, Validation_Set/ below it): EXPR_Set "
                                             "for tables 1-4, VA_Set for va.")],
    out_dir: Annotated[str, typer.Option("--out", help="Folder for the runs, REPORT.md and results.csv.")],
    seeds: Annotated[int, typer.Option(help="Trainings per row (seeds s, s+1, ...).")] = 1,
    rows: Annotated[str | None, typer.Option(help="Only these rows of the table(s), e.g. t1-r8,t3-r9.")] = None,
    executor: Annotated[str, typer.Option(help="local or ray (the rows' runs as Ray tasks).")] = "local",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan (rows, features, what the store "
                                                            "lacks and the commands that make it); train nothing.")] = False,
    standin: Annotated[list[str] | None, typer.Option(help="Train on stand-in features: `demo` (the demo store's), "
                                                          "or PAPER=STORED pairs, comma-separated (repeatable).")] = None,
    set_: Sets = None,
    device: Annotated[str | None, typer.Option(help="cpu, cuda or auto (train.device of every run).")] = None,
    videos: Annotated[str | None, typer.Option(help="Video folder, to complete the printed extract commands.")] = None,
    faces: Annotated[str | None, typer.Option(help="cropped_aligned/ folder, likewise.")] = None,
    address: Annotated[str | None, typer.Option(help="Ray address (auto, ray://host:10001); default a local cluster.")] = None,
    gpus_per_run: Annotated[float, typer.Option(help="GPUs per run on Ray.")] = 0.0,
    cpus_per_run: Annotated[float, typer.Option(help="CPUs per run on Ray.")] = 1.0,
) -> None:
    """Train the paper's table rows (N seeds each), Table 2's CV and Table 3's vote, or the authors' VA model;
    REPORT.md beside the paper."""
    from ..config import parse_set
    from ..paper.plan import make_plan, parse_standins
    from ..paper.reproduce import reproduce as run_plan
    from ..training.executors import Executor

    with user_errors():
        ex = Executor(executor, address, gpus_per_run, cpus_per_run)
        only = [r.strip() for r in rows.split(",") if r.strip()] if rows else None
        plan = make_plan(table, store, labels, out_dir, seeds, parse_standins(standin), parse_set(set_), device, only)
        if dry_run:
            show_plan(plan, videos, faces)
            return
        report = run_plan(plan, ex, RichReporter(io.err), videos, faces)
        say.message(io.out, f"wrote {report} and {report.parent / 'results.csv'}")


def show_plan(plan: Plan, videos: str | None, faces: str | None) -> None:
    from ..training.runfolder import RunFolder

    """The rows, their runs and features; what the store lacks and the commands that make it."""
    t = Table(title=f"reproduce: table(s) {', '.join(plan.tables)}, {plan.seeds} seed(s) per row")
    for c in ("row", "preset", "encoder", "features", "paper F1", "runs"):
        t.add_column(c)
    rows = [(f"T{rp.row.table} r{rp.row.row}" if rp.row.table != "va" else "VA (authors' model)", rp, rp.row.f1)
            for rp in plan.rows]
    if plan.cv:
        rows.append(("T2 (cv mean)", plan.cv, table_rows("2")[-1].f1))
    for label, rp, f1 in rows:
        done = sum(RunFolder(f).finished() or (f / "cv.json").exists() for _, f in rp.runs)
        paper = f"{f1:.5f}" if f1 == f1 else "- (no VA figure)"  # NaN: the paper has no VA table
        t.add_row(label, rp.preset, rp.row.encoder, ",".join(rp.features), paper, f"{done}/{len(rp.runs)} done")
    io.out.print(t)
    if "3" in plan.tables:
        say.message(io.out, f"Table 3: vote over t3-r1..t3-r9 per seed -> {plan.out / 'table3-vote'}")
    unique = {f for rp in plan.rows for _, f in rp.runs}
    say.message(io.out, f"{len(unique)} distinct runs (rows with one configuration share them) under "
                        f"{plan.out / 'runs'}")
    if plan.standins:
        say.message(io.out, "stand-ins: " + ", ".join(f"{p}->{s}" for p, s in plan.standins.items()))
    say.message(io.out, f"features needed: {', '.join(plan.features)}")
    if not plan.missing:
        say.message(io.out, f"the store has all of them on all {plan.n_tracks} tracks")
        return
    say.message(io.out, "missing from the store: " + ", ".join(f"{f} ({n})" for f, n in plan.missing.items()))
    for f, cmd in plan.commands(videos, faces).items():
        say.message(io.out, f"make {f}: {cmd}")
    if not videos:
        say.message(io.out, "(VIDEOS: the folder of the videos, or pass --videos; models whose weights are not "
                            "public also need --weights NAME=PATH, see `featurizer models`)")
