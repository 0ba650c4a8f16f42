"""``exprnet baseline`` for VA and AU (exprnet.tasks.baselines) on a run's data, beside EXPR's.

Per task, on the tracks that task annotates: per-track standardised features (with the run's
present flags and speech gate), the task's baseline fitted on the training tracks, its
post-processing chosen on their out-of-fold predictions (groups of source videos), the validation
tracks only scored. Written into the run folder: ``checkpoints/baseline_<task>.npz`` (the model's
weight arrays), and each task's metrics in ``metrics.json`` (the contract's ``val_`` keys at top
level, everything else under the task's name).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
from featurizer.core.files import atomic_write_bytes

from ..config import RunConfig
from ..data.bank import Standardizer
from ..data.batches import BatchBuilder
from ..data.prepare import Prepared
from ..reports.progress import NullReporter, Reporter
from ..tasks.baselines import au_baseline, source_groups, va_baseline


def task_baselines(cfg: RunConfig, prep: Prepared, reporter: Reporter | None = None) -> tuple[dict[str, Any], dict]:
    """(metrics, {task: model arrays}) of the VA and AU baselines among ``prep``'s tasks."""
    reporter = reporter or NullReporter()
    bank, split = prep.bank, prep.split
    d = cfg.data
    builder = BatchBuilder(bank, Standardizer.fit(bank, bank.ids(split.train)), 1, d.present_flags,
                           normalize="track", speech_gate=d.speech_gate)
    metrics: dict[str, Any] = {}
    models: dict[str, dict[str, np.ndarray]] = {}
    for task in (t for t in prep.tasks if t != "expr"):
        def labelled(tracks: list[str], task: str = task) -> list[int]:
            return [i for i in bank.ids(tracks) if bank.task_labelled(task, [i])]

        tr, va = labelled(split.train), labelled(split.val)
        reporter.message(f"{task.upper()} baseline: {len(tr)} training tracks, {len(va)} validation tracks")
        xs = [builder.inputs(i) for i in tr]
        ys = [bank.targets[task][bank.rows(i)] for i in tr]
        vxs = [builder.inputs(i) for i in va]
        vys = [bank.targets[task][bank.rows(i)] for i in va]
        groups = source_groups([bank.tracks[i] for i in tr], cfg.baseline.folds if cfg.baseline else 3)
        fit = va_baseline if task == "va" else au_baseline
        res = fit(xs, ys, groups, vxs, vys, seed=cfg.train.seed)
        metrics.update({k: v for k, v in res.metrics.items() if k.startswith("val_")})
        metrics[task] = {k: v for k, v in res.metrics.items() if not k.startswith("val_")}
        models[task] = res.model.to_arrays()
    return metrics, models


def write_task_baselines(out: str | Path, metrics: dict[str, Any], models: dict[str, dict[str, np.ndarray]]) -> None:
    """The models beside EXPR's and the metrics merged into ``OUT/metrics.json`` (written or added to)."""
    out = Path(out)
    for task, arrays in models.items():
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        atomic_write_bytes(out / "checkpoints" / f"baseline_{task}.npz", buf.getvalue())
    path = out / "metrics.json"
    have = json.loads(path.read_text()) if path.exists() else {}
    atomic_write_bytes(path, json.dumps({**have, **metrics, "tasks": sorted(set(have.get("tasks", [])) | set(models))},
                                        indent=2, default=float).encode())
