"""Exponential moving average of the weights (``train.ema``), the network that is validated,
checkpointed and predicted with when it is on.

An average over the last few hundred optimizer steps sits nearer the middle of the minimum the
run found than the last step's weights do (Polyak averaging; Izmailov et al., 2018, for SWA), so
seeds land closer together. It is torch's own ``AveragedModel`` with an EMA rule; buffers are
averaged as well.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


class WeightAverage:
    """``update()`` after each optimizer step; ``module`` is the network to evaluate and save."""

    def __init__(self, model: torch.nn.Module, decay: float | None):
        self.model = model
        self.ema = (AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
                    if decay else None)

    @property
    def module(self) -> torch.nn.Module:
        return self.ema.module if self.ema is not None else self.model

    def update(self) -> None:
        if self.ema is not None:
            self.ema.update_parameters(self.model)

    def state_dict(self) -> dict[str, Any]:
        """What resuming needs: the trained weights and, if on, the average with its step count."""
        if self.ema is None:
            return {}  # the checkpoint's "model" is the trained network itself
        return {"train_model": self.model.state_dict(), "ema": self.ema.state_dict()}

    def load_state_dict(self, ckpt: dict[str, Any]) -> None:
        self.model.load_state_dict(ckpt.get("train_model", ckpt["model"]))
        if self.ema is not None and "ema" in ckpt:
            self.ema.load_state_dict(ckpt["ema"])
