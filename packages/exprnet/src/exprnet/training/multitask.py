"""Multi-task training: the per-task masked loss and the per-task validation scores.

    loss = w_expr * EXPR's loss (training/losses.py, R-Drop included)
         + w_va * ((1 - CCC_v) + (1 - CCC_a) [+ va_mse * MSE], mean of the two passes, + alpha * VA R-Drop)
         + w_au * (BCE with per-AU pos_weight, mean of the two passes, + alpha * AU R-Drop)

each over the frames that task labels in the batch: a task with no label in a batch adds an exact
0 (exprnet.tasks.losses). Validation pools every task's annotated frames over the validation
tracks (the ABAW metrics: EXPR macro F1; VA mean CCC; AU mean F1 after a 0.5 threshold); the
checkpoint kept is the one with the best mean of the tasks' primary scores.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from ..config import CLASSES, N_CLASSES, RunConfig
from ..data.bank import FeatureBank
from ..data.batches import Batch
from ..reports.metrics import confusion, per_class_f1
from ..tasks.losses import au_loss, au_pos_weight, au_rdrop, va_loss, va_rdrop
from ..tasks.metrics import au_scores, va_scores
from .losses import Criterion, LossParts

PRIMARY = {"expr": "val_f1", "va": "val_va", "au": "val_au_f1"}


class MultiTaskLoss:
    """``loss:`` of a multi-task run; ``expr`` the EXPR criterion (None when EXPR is not a task)."""

    def __init__(self, cfg: RunConfig, slices: Mapping[str, slice], expr: Criterion | None,
                 au_train: Sequence[np.ndarray], device: torch.device):
        self.cfg, self.slices, self.expr = cfg.loss, dict(slices), expr
        self.pos_weight = (torch.tensor(au_pos_weight(list(au_train)), device=device)
                           if "au" in slices and cfg.loss.au_pos_weight and len(au_train) else None)

    @classmethod
    def of(cls, cfg: RunConfig, slices: Mapping[str, slice], expr: Criterion | None, bank: FeatureBank,
           train_ids: Sequence[int], device: torch.device) -> MultiTaskLoss:
        """The loss of a run on ``bank``'s training tracks (AU positive weights from their labels)."""
        au = [bank.targets["au"][bank.rows(i)] for i in train_ids] if "au" in slices else []
        return cls(cfg, slices, expr, au, device)

    def __call__(self, out1: torch.Tensor, out2: torch.Tensor | None, b: Batch) -> LossParts:
        c, w = self.cfg, self.cfg.task_weights
        out2 = out2 if c.rdrop else None
        total = out1.sum() * 0.0
        ce = kl = 0.0
        frames = 0
        for task, s in self.slices.items():
            o1, o2 = out1[..., s], None if out2 is None else out2[..., s]
            if task == "expr":
                assert self.expr is not None
                p = self.expr(o1, o2, b.y, b.mask)
                if p.frames:
                    total = total + w["expr"] * p.loss
                    ce, kl, frames = ce + p.ce, kl + p.kl, frames + p.frames
                continue
            target = b.targets[task]
            m = b.mask & (~torch.isnan(target).any(-1) if task == "va" else (target >= 0).any(-1))
            n = int(m.sum())
            if n == 0:
                continue
            passes = [o for o in (o1, o2) if o is not None]
            if task == "va":
                main = sum(va_loss(o, target, m, c.va_mse) for o in passes) / len(passes)
                reg = va_rdrop(o1, o2, m) if o2 is not None else None
            else:
                main = sum(au_loss(o, target, m, self.pos_weight) for o in passes) / len(passes)
                reg = au_rdrop(o1, o2, m) if o2 is not None else None
            part = main if reg is None else main + c.alpha * reg
            total = total + w[task] * part
            ce, kl, frames = ce + float(main.detach()), kl + (float(reg.detach()) if reg is not None else 0.0), frames + n
        return LossParts(total, ce, kl, frames)


def task_scores(bank: FeatureBank, preds: Mapping[int, np.ndarray], slices: Mapping[str, slice],
                ids: Sequence[int]) -> tuple[dict[str, Any], np.ndarray | None]:
    """Validation metrics (the contract's keys: ``val_f1``, ``val_va``, ``val_ccc_valence``,
    ``val_ccc_arousal``, ``val_au_f1``, ``val_f1_AU1``, ...) pooled over tracks ``ids``, the EXPR
    confusion (or None), and ``val_score``: the mean of the tasks' primary scores."""
    out: dict[str, Any] = {}
    cm = None
    for task, s in slices.items():
        if task == "expr":
            cm = sum((confusion(bank.track_labels(i), preds[i][:, s].argmax(-1)) for i in ids),
                     np.zeros((N_CLASSES, N_CLASSES), np.int64))
            pc = per_class_f1(cm)
            out["val_f1"] = float(pc.mean())
            out["val_per_class_f1"] = dict(zip(CLASSES, pc.tolist(), strict=True))
            continue
        true = np.concatenate([bank.targets[task][bank.rows(i)] for i in ids])
        pred = np.concatenate([preds[i][:, s] for i in ids])
        if task == "va":
            scores = va_scores(pred, true)
        else:
            scores = au_scores((pred >= 0.5).astype(np.int8), true)
        out.update({f"val_{k}": v for k, v in scores.items()})
    out["val_score"] = float(np.mean([out[PRIMARY[t]] for t in slices]))
    return out, cm


def describe(scores: Mapping[str, Any]) -> str:
    """One line: each task's primary validation score."""
    names = {"val_f1": "EXPR F1", "val_va": "VA CCC", "val_au_f1": "AU F1"}
    return "  ".join(f"val {names[k]} {scores[k]:.4f}" for k in names if k in scores)


def metrics_fields(tasks: Sequence[str], best_score: float, scores: Mapping[str, Any], bank: FeatureBank,
                   train_ids: Sequence[int]) -> dict[str, Any]:
    """metrics.json's multi-task fields: the tasks, the best mean score, each task's scores at that
    epoch (``best_val_f1`` EXPR's, None without EXPR) and each task's labelled training frames."""
    return {"tasks": list(tasks), "best_val_score": best_score, "best_val_f1": scores.get("val_f1"),
            **{k: v for k, v in scores.items() if k != "val_score"},
            **{f"{t}_train_labelled_frames": bank.task_labelled(t, train_ids) for t in tasks}}


def expr_confusion(bank: FeatureBank, probs: Mapping[int, np.ndarray]) -> np.ndarray:
    """The EXPR confusion matrix of these tracks' labelled frames (an EXPR-only network's probabilities)."""
    return sum((confusion(bank.track_labels(i), p.argmax(-1)) for i, p in probs.items()),
               np.zeros((N_CLASSES, N_CLASSES), np.int64))
