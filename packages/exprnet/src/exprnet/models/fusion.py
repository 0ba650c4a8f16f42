"""Early fusion (the paper's eq. 1): concatenated features -> one linear layer -> activation, dropout."""

from __future__ import annotations

import torch
from torch import nn


def activation(name: str) -> nn.Module:
    return {"relu": nn.ReLU, "gelu": nn.GELU}[name]()


class Fusion(nn.Module):
    def __init__(self, in_dim: int, d_model: int, act: str = "relu", dropout: float = 0.3):
        super().__init__()
        self.proj = nn.Linear(in_dim, d_model)
        self.act = activation(act)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.act(self.proj(x)))
