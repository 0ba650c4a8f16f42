"""Per-frame classifier: MLP (paper: {512, 256}) -> 8 expression logits."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .fusion import activation


class Head(nn.Module):
    def __init__(self, in_dim: int, hidden: Sequence[int], n_classes: int, act: str = "relu",
                 dropout: float = 0.3):
        super().__init__()
        layers: list[nn.Module] = []
        d = in_dim
        for h in hidden:
            layers += [nn.Linear(d, h), activation(act), nn.Dropout(dropout)]
            d = h
        layers.append(nn.Linear(d, n_classes))
        self.mlp = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(x)
