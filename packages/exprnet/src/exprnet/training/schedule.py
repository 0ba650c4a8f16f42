"""Learning-rate schedule per optimizer step: linear warmup, then step decay, cosine or constant.

    lr(step) = lr * warmup(step) * decay(step)
    warmup   = min(1, (step + 1) / warmup_steps), warmup_steps = round(train.warmup * total steps)
    step     : gamma ** (epoch // step_size)            (epoch 0-based: torch's StepLR per epoch)
    cosine   : 0.5 * (1 + cos(pi * min(1, (step - warmup_steps) / (total - warmup_steps))))
    constant : 1

The total is ``train.steps``, or ``train.epochs`` times the steps of one epoch. The state is the
step count, so a resumed run continues the same curve.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ..config import TrainConfig


def lr_factor(schedule: str, step: int, total: int, warmup_steps: int, epoch: int, step_size: int,
              gamma: float) -> float:
    """The multiplier of the base learning rate at optimizer step ``step`` (0-based) of epoch ``epoch``."""
    warm = min(1.0, (step + 1) / warmup_steps) if warmup_steps > 0 else 1.0
    if schedule == "constant":
        decay = 1.0
    elif schedule == "step":
        decay = gamma ** (epoch // step_size)
    elif schedule == "cosine":
        span = max(1, total - warmup_steps)
        decay = 0.5 * (1.0 + math.cos(math.pi * min(1.0, max(0, step - warmup_steps) / span)))
    else:
        raise ValueError(f"unknown schedule {schedule!r}")
    return warm * decay


class Schedule:
    def __init__(self, opt: torch.optim.Optimizer, cfg: TrainConfig, steps_per_epoch: int):
        self.opt, self.cfg = opt, cfg
        self.base = [float(g["lr"]) for g in opt.param_groups]
        self.total = cfg.steps or cfg.epochs * max(1, steps_per_epoch)
        self.warmup_steps = round(cfg.warmup * self.total)
        self.step = 0  # optimizer steps taken

    def apply(self, epoch: int) -> float:
        """Set the learning rate for the next step of ``epoch`` (1-based); returns it."""
        f = lr_factor(self.cfg.schedule, self.step, self.total, self.warmup_steps, epoch - 1,
                      self.cfg.step_size, self.cfg.gamma)
        for g, lr in zip(self.opt.param_groups, self.base, strict=True):
            g["lr"] = lr * f
        return self.base[0] * f

    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step, "total": self.total}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step = int(state.get("step", 0))
        self.total = int(state.get("total", self.total))
        self.warmup_steps = round(self.cfg.warmup * self.total)
