"""What a training run records in its folder, and reads back to resume: the ``last`` checkpoint and
metrics.json (with the run's history), from a :class:`~.trainer.Trainer`'s state (passed as ``self``)."""

from __future__ import annotations

from typing import Any

import torch

from ..config import CLASSES
from .multitask import metrics_fields


def save_last(self: Any, epoch: int, history: list[dict[str, Any]], best_f1: float, best_epoch: int,
              best_pc: list[float], best_cm: list[list[int]]) -> None:
    """The ``last`` checkpoint: weights, optimiser, scheduler, RNG states and the history so far."""
    self.run.save("last", {
        "model": self.average.module.state_dict(), **self.average.state_dict(),
        "optimizer": self.opt.state_dict(), "scheduler": self.sched.state_dict(), "scaler": self.scaler.state_dict(),
        "rng_cpu": torch.get_rng_state(),
        "rng_cuda": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else [],
        "epoch": epoch, "history": history, "best_val_f1": best_f1, "best_epoch": best_epoch,
        "best_per_class": best_pc, "best_confusion": best_cm, "in_dim": self.builder.input_dim,
        **({"tasks": self.tasks, "best_scores": self.best_scores} if self.multi else {}),
    })


def load_last(self: Any) -> dict[str, Any]:
    """A resumed run: the ``last`` checkpoint's weights, optimiser, scheduler, scaler and RNG states
    back in the trainer; the checkpoint (its history, best epoch and scores)."""
    ckpt = self.run.load("last")
    self.average.load_state_dict(ckpt)
    self.opt.load_state_dict(ckpt["optimizer"])
    self.sched.load_state_dict(ckpt["scheduler"])
    self.scaler.load_state_dict(ckpt["scaler"])
    torch.set_rng_state(ckpt["rng_cpu"])
    if self.device.type == "cuda" and ckpt.get("rng_cuda"):
        torch.cuda.set_rng_state_all(ckpt["rng_cuda"])
    return ckpt


def write_metrics(self: Any, history: list[dict[str, Any]], best_f1: float, best_epoch: int,
                  best_pc: list[float], best_cm: list[list[int]], smoothing: dict | None = None,
                  post: dict[str, Any] | None = None) -> None:
    """history.csv and metrics.json of the run so far (the best epoch, post-processing, every task)."""
    if not history:
        return
    last, t = history[-1]["epoch"], self.cfg.train
    self.run.write_history(history)
    self.run.write_metrics({
        "best_val_f1": best_f1, "best_epoch": best_epoch,
        "per_class_f1": dict(zip(CLASSES, best_pc, strict=True)),
        "val_confusion": best_cm, "last_epoch": last, "epochs": t.epochs, "steps": self.sched.step,
        "finished": self.done(history, best_epoch),
        "stopped_early": t.patience is not None and last - best_epoch >= t.patience,
        "smoothing": smoothing, "val_f1_smoothed": smoothing["val_f1"] if smoothing else None,
        "train_tracks": len(self.train_ids), "val_tracks": len(self.val_ids),
        "train_labelled_frames": self.bank.labelled(self.train_ids),
        "val_labelled_frames": self.bank.labelled(self.val_ids),
        "features": self.bank.features, "encoder": self.cfg.model.encoder,
        **(metrics_fields(self.tasks, best_f1, self.best_scores, self.bank, self.train_ids) if self.multi else {}),
        **{k: v for k, v in (post or {}).items() if k != "smoothing"},
    })
