"""``exprnet sweep``: the cross product of presets / feature sets, encoders, folds and seeds.

Grid file (YAML)::

    out: runs/sweep                  # folder of the runs (or --out)
    base:                            # config layers shared by every run (data:, model:, train:)
      data: {store: demo/features.zarr, labels: demo/data/annotations}
      train: {epochs: 4}
    grid:
      preset: [demo, demo-transformer]           # optional
      features: [[egemaps, hog], [compare, hog]]  # optional
      encoder: [lstm, transformer]                # optional
      fold: [official]                            # or fold numbers 1..folds
      folds: 5
      seed: [0, 1]

Each combination is a run folder ``OUT/<preset>_<features>_<encoder>_<fold>_s<seed>`` (axes with
one value are left out of the name). A finished run is skipped, a killed one resumed. The end
table is written to OUT/sweep.csv and OUT/sweep.json; OUT/runs.txt lists the run folders for
``exprnet ensemble --runs-file``. Runs with VA/AU labels (``base.data.labels`` a list of folders,
or a preset's) are scored on each task's primary metric; ``score`` is their mean (EXPR alone: the F1).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from featurizer.core.files import atomic_write_csv, atomic_write_json, atomic_write_text

from ..config import RunConfig, build_config, read_yaml
from ..config.presets import load_preset
from ..data.splits import Split
from ..errors import ConfigError
from ..reports.progress import NullReporter, Reporter
from .executors import Executor, run_tasks
from .runfolder import RunFolder

AXES = ("preset", "features", "encoder", "fold", "seed")


@dataclass(frozen=True)
class SweepRun:
    name: str
    layers: tuple[dict[str, Any], ...]
    fold: int | None  # None: the official Train_Set / Validation_Set split
    folds: int

    def config(self) -> RunConfig:
        return build_config(*self.layers, source=f"sweep run {self.name}")


def _label(axis: str, v: Any) -> str:
    if axis == "features":
        return "+".join(v)
    if axis == "fold":
        return "official" if v in (None, "official") else f"fold{v}"
    if axis == "seed":
        return f"s{v}"
    return str(v)


def expand(grid_doc: dict[str, Any]) -> list[SweepRun]:
    base = grid_doc.get("base") or {}
    grid = dict(grid_doc.get("grid") or {})
    folds = int(grid.pop("folds", 5))
    unknown = sorted(set(grid) - set(AXES))
    if unknown:
        raise ConfigError(f"grid: {', '.join(unknown)}", f"unknown axis; use {', '.join(AXES)}")
    axes = {a: (grid[a] if isinstance(grid.get(a), list) else [grid[a]]) for a in AXES if a in grid}
    if not axes:
        raise ConfigError("grid", "is empty", "give at least one of " + ", ".join(AXES))
    varying = [a for a, vs in axes.items() if len(vs) > 1]
    runs = []
    for combo in itertools.product(*axes.values()):
        v = dict(zip(axes, combo, strict=True))
        layers: list[dict[str, Any]] = []
        if "preset" in v:
            layers.append(load_preset(v["preset"]))
        layers.append(base)
        over: dict[str, Any] = {}
        if "features" in v:
            over.setdefault("data", {})["features"] = v["features"]
        if "encoder" in v:
            over.setdefault("model", {})["encoder"] = v["encoder"]
        if "seed" in v:
            over.setdefault("train", {})["seed"] = int(v["seed"])
        name = "_".join(_label(a, v[a]) for a in (varying or list(axes)[:1]))
        over["name"] = name
        layers.append(over)
        fold = v.get("fold")
        fold = None if fold in (None, "official") else int(fold)
        if fold is not None and not 1 <= fold <= folds:
            raise ConfigError(f"grid.fold {fold}", f"outside 1..{folds}")
        runs.append(SweepRun(name, tuple(layers), fold, folds))
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        raise ConfigError("grid", "two combinations get the same run name")
    return runs


def run_one(run: SweepRun, root: str, reporter: Reporter | None = None) -> dict[str, Any]:
    """Train (or resume, or skip) one run; returns its row for the table."""
    from .cv import fold_config, folds_of, task_keys
    from .experiment import execute, load_data

    reporter = reporter or NullReporter()
    folder = RunFolder(Path(root) / run.name)
    cfg: RunConfig | None = run.config().resolved()
    prep, split = None, None
    if run.fold is not None and folder.finished():
        cfg = None  # kept as it is: no need to load the data to recompute its fold
    elif run.fold is not None and cfg is not None:
        prep = load_data(cfg, reporter)
        f = folds_of(prep, run.folds)[run.fold - 1]
        cfg, split = fold_config(cfg, f), Split(f.train, f.val)
    outcome = execute(cfg, folder.root, reporter, existing="skip", prepared=prep, split=split)
    m = outcome.metrics
    cfg = folder.read_config()
    tasks = list(m.get("tasks", ["expr"]))
    keys = task_keys(tasks) if tasks != ["expr"] else []
    f1 = m.get("best_val_f1")
    return {"run": run.name, "encoder": cfg.model.encoder, "features": "+".join(cfg.data.features),
            "fold": "official" if run.fold is None else run.fold, "seed": cfg.train.seed,
            "best_val_f1": None if f1 is None else float(f1), "best_epoch": int(m["best_epoch"]),
            "tasks": "+".join(tasks), **{k: float(m[k]) for k in keys},
            "score": float(np.mean([m[k] for k in keys])) if keys else float(f1),
            "status": outcome.status, "path": str(folder.root)}


def run_sweep(grid_file: str | Path, out: str | Path | None = None, executor: str = "local",
              address: str | None = None, gpus_per_run: float = 0.0, cpus_per_run: float = 1.0,
              reporter: Reporter | None = None) -> list[dict[str, Any]]:
    doc = read_yaml(grid_file)
    root = str(out or doc.get("out") or "")
    if not root:
        raise ConfigError("--out", "required (or `out:` in the grid file)")
    runs = expand(doc)
    Path(root).mkdir(parents=True, exist_ok=True)
    reporter = reporter or NullReporter()
    ex = Executor(executor, address, gpus_per_run, cpus_per_run)

    def done(i: int, row: dict[str, Any]) -> None:
        reporter.message(f"[{i + 1}/{len(runs)}] {row['run']}: {row['status']}, {score_text(row)}")

    local = reporter if ex.kind == "local" else None  # a Ray task reports nothing back
    rows = run_tasks(run_one, [(r, root, local) for r in runs], ex, done)
    write_table(rows, Path(root))
    return rows


def score_text(row: dict[str, Any]) -> str:
    """``val F1 0.41`` (EXPR alone) or each task's primary score and their mean."""
    names = {"val_f1": "EXPR F1", "val_va": "VA CCC", "val_au_f1": "AU F1"}
    if row["tasks"] == "expr":
        return f"val F1 {row['best_val_f1']:.4f}"
    return ", ".join(f"{v} {row[k]:.4f}" for k, v in names.items() if k in row) + f" (mean {row['score']:.4f})"


def write_table(rows: list[dict[str, Any]], root: Path) -> None:
    atomic_write_json(root / "sweep.json", rows)
    atomic_write_csv(root / "sweep.csv", rows)
    atomic_write_text(root / "runs.txt", "".join(f"{r['path']}\n" for r in rows))
