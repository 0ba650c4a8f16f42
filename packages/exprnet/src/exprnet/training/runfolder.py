"""The run folder: everything a training run writes, each file replaced atomically.

    RUN/config.yaml            resolved config (what `--resume` and `predict` read)
    RUN/tracks.json            training and validation tracks
    RUN/features.json          per feature: how it was made (store identity, weights kind, dim)
    RUN/stats.npz              per-column mean/std of the features (training tracks only)
    RUN/checkpoints/best.pt    model weights of the best validation F1
    RUN/checkpoints/last.pt    weights + optimizer, scheduler, scaler, RNG, history (each epoch)
    RUN/checkpoints/blend.npz  smooth.baseline: auto: the network's weight, temperatures, the regression
                               (VA/AU runs: per head ``va.``/``au.`` weight and partner arrays)
    RUN/metrics.json           best_val_f1, best_epoch, per_class_f1, confusion, finished, smoothing, ...
    RUN/calibration.json       temperature (and per-class biases) fitted on training predictions
    RUN/oof/                   smooth.folds: the out-of-fold sub-runs and their predictions
                               (probs.npz: the run's; a blended run's network alone: network.npz;
                               VA/AU: tasks.npz, a blended run's network alone: network_tasks.npz)
    RUN/epochs.csv             one row per epoch
    RUN/tensorboard/           TensorBoard events
    RUN/curves.png             loss and F1 per epoch
    RUN/confusion.png          validation confusion matrix at the best epoch
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any

import torch
import yaml
from featurizer.core.files import (
    atomic_write_bytes,
    atomic_write_csv,
    atomic_write_json,
    atomic_write_text,
)

from ..config import CLASSES, RunConfig, load_run_config
from ..errors import RunError


def atomic_write_yaml(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, yaml.safe_dump(obj, sort_keys=False, default_flow_style=None))


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


class RunFolder:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.config = self.root / "config.yaml"
        self.tracks = self.root / "tracks.json"
        self.features = self.root / "features.json"
        self.stats = self.root / "stats.npz"
        self.best = self.root / "checkpoints" / "best.pt"
        self.last = self.root / "checkpoints" / "last.pt"
        self.metrics = self.root / "metrics.json"
        self.epochs_csv = self.root / "epochs.csv"
        self.tensorboard = self.root / "tensorboard"
        self.curves_png = self.root / "curves.png"
        self.confusion_png = self.root / "confusion.png"


    def epoch_log(self, purge_step: int | None = None) -> EpochLog:
        """A writer of the run's TensorBoard events (``purge_step``: where a resumed run goes on)."""
        return EpochLog(self.tensorboard, purge_step)
    def in_use(self) -> bool:
        """True once an epoch has been saved (a run that can be resumed)."""
        return self.last.exists()

    def finished(self) -> bool:
        return self.metrics.exists() and bool(self.read_metrics().get("finished"))

    def create(self, cfg: RunConfig, train: list[str], val: list[str]) -> None:
        if self.in_use():
            raise RunError(str(self.root), "holds a run already",
                           "continue it with `exprnet train --resume`, or choose another --out")
        self.root.mkdir(parents=True, exist_ok=True)
        atomic_write_yaml(self.config, cfg.to_dict())
        atomic_write_json(self.tracks, {"train": list(train), "val": list(val)})

    def read_config(self) -> RunConfig:
        if not self.config.exists():
            raise RunError(str(self.root), "is not a run folder (no config.yaml)")
        return load_run_config(self.config)

    def write_config(self, cfg: RunConfig) -> None:
        atomic_write_yaml(self.config, cfg.to_dict())

    def read_tracks(self) -> dict[str, list[str]]:
        return json.loads(self.tracks.read_text()) if self.tracks.exists() else {"train": [], "val": []}

    def read_features(self) -> dict[str, dict[str, Any]] | None:
        """The recorded feature provenance (None for a run made before it was recorded)."""
        return json.loads(self.features.read_text()) if self.features.exists() else None

    def write_features(self, records: dict[str, dict[str, Any]]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.features, records)

    def checkpoint(self, which: str) -> Path:
        if which not in ("best", "last"):
            raise RunError(f"checkpoint {which}", "expected best or last")
        return self.best if which == "best" else self.last

    def save(self, which: str, obj: dict[str, Any]) -> None:
        path = self.checkpoint(which)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_torch_save(obj, path)

    def load(self, which: str) -> dict[str, Any]:
        path = self.checkpoint(which)
        if not path.exists():
            raise RunError(str(self.root), f"has no {which} checkpoint ({path.name})",
                           "the run has not finished an epoch yet")
        return torch.load(path, map_location="cpu", weights_only=True)

    def read_metrics(self) -> dict[str, Any]:
        if not self.metrics.exists():
            raise RunError(str(self.root), "has no metrics.json yet")
        return json.loads(self.metrics.read_text())

    def recorded_smoothing(self) -> dict[str, Any] | None:
        """The post-processing the run recorded (a processor's dict: kind and every fitted
        parameter, plus how it was chosen), if any."""
        if not self.metrics.exists():
            return None
        s = self.read_metrics().get("smoothing")
        if not s or s.get("kind") in (None, "none"):
            return None
        return s if s["kind"] in ("viterbi", "hsmm") or s.get("width") is not None else None

    def write_metrics(self, metrics: dict[str, Any]) -> None:
        atomic_write_json(self.metrics, metrics)

    def checksum(self, which: str) -> str:
        """sha256 of a checkpoint file: changes whenever the run is retrained or continued."""
        path = self.checkpoint(which)
        if not path.exists():
            raise RunError(str(self.root), f"has no {which} checkpoint ({path.name})",
                           "the run has not finished an epoch yet")
        h = hashlib.sha256()
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()

    def read_history(self) -> list[dict[str, float]]:
        """epochs.csv as numbers (empty before the first epoch)."""
        if not self.epochs_csv.exists():
            return []
        with self.epochs_csv.open(newline="") as f:
            return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]

    def write_history(self, history: list[dict[str, Any]]) -> None:
        if not history:
            return
        atomic_write_csv(self.epochs_csv, history)


class EpochLog:
    """The run's TensorBoard events (``RUN/tensorboard``): per epoch the losses, F1, learning rate,
    throughput and per-class validation F1."""

    SCALARS = ("train_loss", "train_ce", "train_kl", "train_f1", "val_f1", "lr", "frames_per_s")

    def __init__(self, folder: Path, purge_step: int | None = None):
        from torch.utils.tensorboard import SummaryWriter  # slow import: only when training

        self.writer = SummaryWriter(str(folder), purge_step=purge_step)

    def write(self, row: dict[str, Any], per_class_f1: Any) -> None:
        for k in self.SCALARS:
            self.writer.add_scalar(k.replace("_", "/", 1), row[k], row["epoch"])
        for c, v in zip(CLASSES, per_class_f1, strict=True):
            self.writer.add_scalar(f"val_f1_class/{c}", float(v), row["epoch"])
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
