"""Out-of-fold predictions of every head of a run (``smooth.folds: K``), kept in the run folder.

K sub-runs of the run's configuration (``RUN/oof/fold<k>``, no post-processing of their own), each
trained without one group of training source videos, predict that group with their last
checkpoint, every task's head at once (EXPR, VA, AU: :func:`~exprnet.models.build_model` with the
run's tasks). What they predict is kept:

    RUN/oof/probs.npz   EXPR only: ``p:<track>`` (n, 8) probabilities and ``y:<track>`` (n,) labels of
                        the training tracks with EXPR labels (every training track of an EXPR-only run)
    RUN/oof/tasks.npz   ``va:<track>`` (n, 2) float32 values and ``au:<track>`` (n, 12) float32
                        probabilities of the training tracks that task annotates, with their labels
                        ``yva:<track>`` (n, 2, NaN unannotated) and ``yau:<track>`` (n, 12, -1 unannotated);
                        a blended run (``smooth.baseline: auto``): the blend's, the network's own in
                        ``network_tasks.npz``

A second call with the same training tracks reads them back (the sub-runs are not trained again).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from featurizer.core.annotations import source_video
from featurizer.core.files import atomic_write_bytes

from ..config import RunConfig
from ..data.bank import FeatureBank, Standardizer
from ..data.batches import BatchBuilder
from ..data.prepare import Prepared
from ..data.splits import Split, track_groups
from ..data.tasks import annotated
from ..models import build_model
from ..models.inference import predict_probs
from ..reports.progress import Reporter
from .runfolder import RunFolder

EXPR_FILE, TASKS_FILE = "probs.npz", "tasks.npz"
NETWORK_EXPR, NETWORK_TASKS = "network.npz", "network_tasks.npz"  # a blended run: the network's own
HEADS = ("va", "au")


@dataclass
class OutOfFold:
    """``expr``: track -> (probabilities, labels of those rows); ``tasks``: task -> track -> predictions."""

    expr: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    tasks: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)


def task_tracks(bank: FeatureBank, task: str, tracks: Sequence[str]) -> list[str]:
    """Those of ``tracks`` with a ``task`` label (EXPR of an EXPR-only bank: all of them)."""
    if task == "expr":
        if not bank.targets:
            return list(tracks)
        return [t for t in tracks if (bank.track_labels(bank.index(t)) >= 0).any()]
    v = bank.targets[task]
    return [t for t in tracks if annotated(task, v[bank.rows(bank.index(t))]).any()]


def task_truth(bank: FeatureBank, task: str, track: str) -> np.ndarray:
    """A VA/AU track's labels as the bank holds them (VA NaN / AU -1 rows unannotated)."""
    return bank.targets[task][bank.rows(bank.index(track))]


def sub_config(cfg: RunConfig, train: Sequence[str], held: Sequence[str]) -> RunConfig:
    """The run's configuration for one out-of-fold sub-run (no post-processing of its own)."""
    sub = cfg.model_copy(deep=True)
    sub.data.train_tracks, sub.data.val_tracks = list(train), list(held)
    sub.smooth.baseline = "none"  # first: a blend needs folds
    sub.smooth.kind, sub.smooth.calibrate, sub.smooth.folds = "none", "none", 0
    return sub


def frame_labels(bank: FeatureBank, i: int, views: dict[int, np.ndarray]) -> np.ndarray:
    """EXPR labels of the rows a model predicts of track ``i`` (only its labelled ones with ``data.unlabelled: drop``)."""
    y = bank.track_labels(i)
    return y[views[i]] if i in views else y


def held_out_outputs(sub: Path, bank: FeatureBank, held: Sequence[str]) -> tuple[dict[str, np.ndarray], dict[str, slice],
                                                                                 dict[int, np.ndarray]]:
    """A sub-run's last checkpoint on the tracks it held out (standardised with its own statistics):
    track -> every head's outputs side by side, where each task sits (``slices``), the builder's views."""
    run = RunFolder(sub)
    cfg = run.read_config().resolved()
    d, m, t = cfg.data, cfg.model, cfg.train
    builder = BatchBuilder(bank, Standardizer.load(run.stats), m.segment or 1, d.present_flags,
                           unlabelled=d.unlabelled, pad=d.pad, normalize=d.normalize,
                           speech_gate=d.speech_gate)
    ckpt = run.load("last")
    model = build_model(builder.input_dim, m, list(ckpt.get("tasks", ["expr"])))
    model.load_state_dict(ckpt["model"])
    ids = bank.ids(list(held))
    out = predict_probs(model, builder, bank, ids, m, t.eval_batch_size or t.batch_size, torch.device("cpu"))
    return {bank.tracks[i]: out[i] for i in ids}, dict(model.slices), builder.views


def _expected(bank: FeatureBank, tasks: Sequence[str], train: Sequence[str], expr_file: str = EXPR_FILE,
              tasks_file: str = TASKS_FILE) -> dict[str, set[str]]:
    out = {}
    if "expr" in tasks:
        out[expr_file] = {f"{p}:{t}" for t in task_tracks(bank, "expr", train) for p in ("p", "y")}
    heads = [h for h in HEADS if h in tasks]
    if heads:
        out[tasks_file] = {f"{p}{h}:{t}" for h in heads for t in task_tracks(bank, h, train) for p in ("", "y")}
    return out


def read_cached(root: Path, bank: FeatureBank, train: Sequence[str], tasks: Sequence[str] | None = None,
                expr_file: str = EXPR_FILE, tasks_file: str = TASKS_FILE) -> OutOfFold | None:
    """What an earlier call kept in ``root`` of ``tasks`` (default: the bank's) for these training
    tracks (None: nothing, or other tracks)."""
    tasks = bank.tasks if tasks is None else [t for t in tasks if t in bank.tasks]
    want = _expected(bank, tasks, train, expr_file, tasks_file)
    got: dict[str, dict[str, np.ndarray]] = {}
    for name, keys in want.items():
        if not (root / name).exists():
            return None
        with np.load(root / name) as z:
            if set(z.files) != keys:
                return None
            got[name] = {k: z[k] for k in z.files}
    oof = OutOfFold()
    e = got.get(expr_file, {})
    oof.expr = {k[2:]: (e[k], e["y" + k[1:]]) for k in e if k.startswith("p:")}
    for h in HEADS:
        if h in tasks:
            oof.tasks[h] = {k[len(h) + 1:]: v for k, v in got[tasks_file].items() if k.startswith(f"{h}:")}
    return oof


def out_of_fold_outputs(cfg: RunConfig, bank: FeatureBank, train: Sequence[str], root: Path, folds: int,
                        reporter: Reporter, execute: Callable[..., Any], tasks: Sequence[str] | None = None,
                        expr_file: str = EXPR_FILE, tasks_file: str = TASKS_FILE) -> OutOfFold:
    """Every training track's predictions, each from a sub-run that did not train on its source
    video (``execute``: :func:`exprnet.training.experiment.execute`, given by the caller);
    ``tasks``: those whose kept predictions are enough (default: all the bank's); ``expr_file``:
    where EXPR's are kept (a blended run: ``network.npz``, its ``probs.npz`` being the blend's);
    ``tasks_file``: where VA/AU's are (a blended run: ``network_tasks.npz``)."""
    cached = read_cached(root, bank, train, tasks, expr_file, tasks_file)
    if cached is not None:
        return cached
    rows: dict[str, np.ndarray] = {}
    labels: dict[str, np.ndarray] = {}
    slices: dict[str, slice] = {}
    groups = track_groups(list(train), folds, source_video)
    for k, g in enumerate(groups, start=1):
        held = [train[i] for i in g]
        rest = [t for t in train if t not in set(held)]
        reporter.message(f"out-of-fold sub-run {k}/{len(groups)}: {len(rest)} training tracks, {len(held)} held out")
        split = Split(rest, held)
        execute(sub_config(cfg, rest, held), root / f"fold{k}", reporter, existing="skip",
                prepared=Prepared(bank, split, {}), split=split)
        got, slices, views = held_out_outputs(root / f"fold{k}", bank, held)
        rows.update(got)
        labels.update({t: frame_labels(bank, bank.index(t), views) for t in held})
    write(root, bank, train, rows, labels, slices, expr_file, tasks_file)
    cached = read_cached(root, bank, train, tasks, expr_file, tasks_file)
    assert cached is not None
    return cached


def write(root: Path, bank: FeatureBank, train: Sequence[str], rows: dict[str, np.ndarray],
          labels: dict[str, np.ndarray], slices: dict[str, slice], expr_file: str = EXPR_FILE,
          tasks_file: str = TASKS_FILE) -> None:
    """probs.npz (EXPR; ``expr_file``) and tasks.npz (VA/AU) of the module doc, from each track's output rows."""
    if "expr" in slices:
        s = slices["expr"]
        ts = task_tracks(bank, "expr", train)
        save_arrays(root / expr_file, {**{f"p:{t}": rows[t][:, s] for t in ts}, **{f"y:{t}": labels[t] for t in ts}})
    heads = [h for h in HEADS if h in slices]
    if heads:
        arrays = {}
        for h in heads:
            for t in task_tracks(bank, h, train):
                arrays[f"{h}:{t}"] = np.ascontiguousarray(rows[t][:, slices[h]], np.float32)
                arrays[f"y{h}:{t}"] = task_truth(bank, h, t)
        save_arrays(root / tasks_file, arrays)


def save_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())
