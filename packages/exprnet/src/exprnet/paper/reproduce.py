"""Train a reproduction plan: every row's runs (shared where rows share a configuration), Table 2's
cross-validation, Table 3's vote (or the VA model's runs); then the report. Finished runs are kept,
killed ones resumed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..config import RunConfig
from ..ensemble.evaluate import run_ensemble
from ..errors import DataError
from ..reports.progress import NullReporter, Reporter
from ..training.cv import run_cv
from ..training.executors import Executor, run_tasks
from ..training.experiment import execute
from ..training.runfolder import RunFolder
from .plan import Plan, with_seed
from .report import write_report


def train_run(cfg: dict[str, Any], folder: str) -> dict[str, Any]:
    """One run (a task: module level, plain arguments): trained, resumed or kept."""
    outcome = execute(RunConfig.model_validate(cfg), folder, None, existing="skip")
    return run_result(folder, outcome.status)


def run_result(folder: str | Path, status: str = "") -> dict[str, Any]:
    """A finished run's primary validation score (EXPR F1, or VA CCC for a VA run) at its best and
    last epoch, named in ``metric``."""
    run = RunFolder(folder)
    m, history = run.read_metrics(), run.read_history()
    key, name = ("val_va", "VA CCC") if m.get("best_val_f1") is None and "val_va" in m else ("val_f1", "F1")
    last = history[-1].get(key) if history else None
    return {"folder": str(folder), "status": status, "metric": name,
            "best": float(m["val_va" if key == "val_va" else "best_val_f1"]), "best_epoch": int(m["best_epoch"]),
            "last": None if last in (None, "") else float(last)}


def require_features(plan: Plan, videos: str | None, faces: str | None) -> None:
    if plan.missing:
        cmds = plan.commands(videos, faces)
        raise DataError(plan.store, "lacks " + "; ".join(f"{f!r} ({n})" for f, n in plan.missing.items()),
                        "make them with " + "; ".join(f"`{c}`" for c in cmds.values())
                        + ", or train on stand-ins with --standin (docs/reproduce.md)")


def reproduce(plan: Plan, executor: Executor | None = None, reporter: Reporter | None = None,
              videos: str | None = None, faces: str | None = None, cv_folds: int = 5) -> Path:
    """Train what ``plan`` lists and write OUT/REPORT.md and OUT/results.csv; returns the report."""
    reporter = reporter or NullReporter()
    executor = executor or Executor()
    require_features(plan, videos, faces)
    runs: dict[Path, RunConfig] = {}  # rows sharing a configuration share its runs
    for rp in plan.rows:
        for seed, folder in rp.runs:
            runs.setdefault(folder, with_seed(rp.config, seed, folder.name))
    order = list(runs)
    reporter.message(f"reproduce: {len(plan.rows)} rows, {len(order)} runs ({plan.seeds} seed(s) per row)")
    local = executor.kind == "local"

    def done(i: int, r: dict[str, Any]) -> None:
        reporter.message(f"[{i + 1}/{len(order)}] {Path(r['folder']).name}: {r['status']}, best val "
                         f"{r['metric']} {r['best']:.4f}")

    if local:  # here the runs share the progress display
        results = []
        for i, folder in enumerate(order):
            reporter.message(f"[{i + 1}/{len(order)}] {folder.name} ({', '.join(rows_of(plan, folder))})")
            o = execute(runs[folder], folder, reporter, existing="skip")
            results.append(run_result(folder, o.status))
    else:
        results = run_tasks(train_run, [(runs[f].to_dict(), str(f)) for f in order], executor, done)
    reporter.message(f"runs: {sum(r['status'] == 'skipped (finished)' for r in results)} kept, "
                     f"{sum(r['status'] != 'skipped (finished)' for r in results)} trained or resumed")
    if plan.cv is not None:
        for seed, folder in plan.cv.runs:
            reporter.message(f"Table 2: {cv_folds}-fold cross-validation of {plan.cv.preset}, seed {seed}")
            run_cv(with_seed(plan.cv.config, seed, folder.name), folder, cv_folds, reporter)
    if "3" in plan.tables:
        members = [rp for rp in plan.rows if rp.row.table == "3"]
        for k in range(plan.seeds):
            reporter.message(f"Table 3: vote over its {len(members)} rows, replicate {k + 1}/{plan.seeds}")
            run_ensemble([str(rp.runs[k][1]) for rp in members], "vote", plan.store, plan.labels,
                         plan.vote_folder(k), device=members[0].config.train.device, reporter=reporter)
    return write_report(plan)


def rows_of(plan: Plan, folder: Path) -> list[str]:
    return [rp.preset for rp in plan.rows if any(f == folder for _, f in rp.runs)]
