"""Early fusion (the paper's eq. 1): the concatenated features through one linear layer.

``kind="linear"`` is eq. 1 as written (the authors' code leaves out the bias: ``bias=False``);
``"linear_act_dropout"`` (exprnet's default) adds an activation and dropout after it.
"""

from __future__ import annotations

import torch
from torch import nn

FUSIONS = ("linear", "linear_act_dropout")


def activation(name: str) -> nn.Module:
    return {"relu": nn.ReLU, "gelu": nn.GELU}[name]()


class Fusion(nn.Module):
    def __init__(self, in_dim: int, d_model: int, act: str = "relu", dropout: float = 0.3,
                 kind: str = "linear_act_dropout", bias: bool = True):
        super().__init__()
        if kind not in FUSIONS:
            raise ValueError(f"unknown fusion {kind!r}; choose from {', '.join(FUSIONS)}")
        self.proj = nn.Linear(in_dim, d_model, bias=bias)
        plain = kind == "linear"
        self.act = nn.Identity() if plain else activation(act)
        self.drop = nn.Identity() if plain else nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.act(self.proj(x)))
