"""The one run lifecycle: every command that trains (train, cv, sweep, reproduce) goes through
:func:`execute`.

``execute`` creates a run folder, or resumes the one that holds a killed run, or skips a finished
one; resolves and records the config, the tracks and the feature provenance (``features.json``);
hands the epochs to :class:`~exprnet.training.trainer.Trainer` (which saves checkpoints, metrics and history
after every epoch, so a killed run loses at most one epoch); and draws the plots at the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import ValidationError

from ..config import RunConfig
from ..data.prepare import Prepared, choose_split, load_data, load_labels, prepare
from ..data.provenance import feature_records, mismatches
from ..data.splits import Split
from ..errors import ConfigError, DataError, RunError
from ..reports.plots import plot_confusion, plot_curves
from ..reports.progress import NullReporter, Reporter
from .runfolder import RunFolder
from .trainer import Trainer, TrainResult

__all__ = ["Prepared", "RunOutcome", "choose_split", "execute", "load_data", "load_labels", "prepare",
           "resume", "train"]

Existing = Literal["error", "resume", "skip"]
# Keys that may differ between the config a folder records and the one asked for (where and how
# fast it runs, not what it learns).
RUNTIME_KEYS = {("name",), ("description",), ("paper",), ("data", "store"), ("data", "labels"),
                ("data", "memmap"), ("train", "device"), ("train", "threads"), ("train", "prefetch"),
                ("train", "eval_batch_size"), ("train", "epochs")}


@dataclass
class RunOutcome:
    run: RunFolder
    status: str  # "trained", "resumed" or "skipped (finished)"
    metrics: dict[str, Any]
    result: TrainResult | None  # None when skipped


def config_differences(a: RunConfig, b: RunConfig) -> list[str]:
    """Dotted keys whose values differ between two resolved configs, runtime keys left out."""
    out: list[str] = []

    def walk(x: Any, y: Any, path: tuple[str, ...]) -> None:
        if path in RUNTIME_KEYS:
            return
        if isinstance(x, dict) and isinstance(y, dict):
            for k in sorted(set(x) | set(y)):
                walk(x.get(k), y.get(k), (*path, k))
        elif x != y:
            out.append(".".join(path))

    walk(a.resolved().to_dict(), b.resolved().to_dict(), ())
    return out


def _own_config(run: RunFolder, epochs: int | None, device: str | None) -> RunConfig:
    cfg = run.read_config()
    try:
        if epochs is not None:
            cfg.train.epochs = epochs
        if device is not None:
            cfg.train.device = device  # type: ignore[assignment]
    except ValidationError as e:
        raise ConfigError("--epochs/--device", e.errors()[0]["msg"]) from None
    return cfg


def execute(cfg: RunConfig | None, out: str | Path, reporter: Reporter | None = None, *,
            existing: Existing = "error", prepared: Prepared | None = None, split: Split | None = None,
            epochs: int | None = None, device: str | None = None) -> RunOutcome:
    """Train ``cfg`` in ``out`` (see the module doc).

    ``existing``: what a folder that already holds a run means: an error (``train``), a run to
    continue (``train --resume``; a finished one continues only to a larger ``epochs``), or one to
    keep when finished and continue otherwise (``skip``: cv, sweep, reproduce). ``cfg=None`` takes
    the folder's own config. ``prepared`` reuses loaded data (cv's folds share one bank);
    ``split`` overrides its train/validation tracks.
    """
    reporter = reporter or NullReporter()
    run = RunFolder(out)
    resuming = run.in_use()
    if resuming and existing == "error":
        raise RunError(str(out), "holds a run already",
                       f"continue it with `exprnet train --resume {out}`, or choose another --out")
    if cfg is not None and run.config.exists():
        differ = config_differences(cfg, run.read_config())
        if differ:
            raise RunError(str(out), f"holds a run of another configuration ({', '.join(differ[:6])} differ)",
                           "choose another --out, or remove the folder")
    if existing == "skip" and run.finished():
        reporter.message(f"{run.root.name}: finished already, kept")
        return RunOutcome(run, "skipped (finished)", run.read_metrics(), None)
    if cfg is None:
        if not run.config.exists():
            raise RunError(str(out), "is not a run folder (no config.yaml)")
        cfg = _own_config(run, epochs, device)
        if not resuming:
            reporter.message(f"{out}: no epoch was saved yet; starting it from the beginning")
    cfg = cfg.resolved()
    if resuming:
        run.write_config(cfg)  # a larger epochs, another device: recorded before they take effect
        tracks = run.read_tracks()
        split = Split(tracks["train"], tracks["val"])
    if prepared is None:
        wanted = cfg.model_copy(deep=True)
        if split is not None:
            wanted.data.train_tracks, wanted.data.val_tracks = list(split.train), list(split.val)
        prepared = load_data(wanted, reporter)
    split = split or prepared.split
    records = feature_records(prepared.bank, cfg.data.store)
    recorded = run.read_features()
    if resuming and recorded is not None:
        bad = mismatches(recorded, {f: r["identity"] for f, r in records.items()})
        if bad:
            raise DataError(f"{cfg.data.store}: feature(s) {', '.join(bad)}",
                            f"were made differently from the ones run {out} started on",
                            "resume on the store it was trained on, or train a new run")
    if recorded is None or not resuming:
        run.write_features(records)
    result = Trainer(cfg, prepared.bank, split.train, split.val, run, reporter, sub_runs=execute).fit(resume=resuming)
    draw_plots(run, result.history)
    return RunOutcome(run, "resumed" if resuming else "trained", run.read_metrics(), result)


def draw_plots(run: RunFolder, history: list[dict[str, Any]]) -> None:
    """curves.png and confusion.png of a run folder (from its history and metrics.json)."""
    if not history or not run.metrics.exists():
        return
    m = run.read_metrics()
    if history:
        plot_curves(history, run.curves_png)
    if m.get("val_confusion"):
        plot_confusion(np.array(m["val_confusion"]), run.confusion_png, f"validation, epoch {m['best_epoch']}")


def train(cfg: RunConfig, out: str | Path, reporter: Reporter | None = None) -> TrainResult:
    """A new run in ``out`` (an error if it holds one)."""
    outcome = execute(cfg, out, reporter)
    assert outcome.result is not None
    return outcome.result


def resume(out: str | Path, reporter: Reporter | None = None, epochs: int | None = None,
           device: str | None = None) -> TrainResult:
    """Continue a run from its ``last.pt`` (optionally with more epochs or another device)."""
    outcome = execute(None, out, reporter, existing="resume", epochs=epochs, device=device)
    assert outcome.result is not None
    return outcome.result
