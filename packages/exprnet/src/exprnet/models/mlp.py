"""Per-frame encoder: an MLP on each fused frame, no temporal context (smoothing adds it)."""

from __future__ import annotations

import torch
from torch import nn

from .fusion import activation


class FrameMLP(nn.Module):
    """``layers`` blocks of Linear(., hidden) -> activation -> dropout, applied to every frame."""

    def __init__(self, d_model: int, hidden: int, layers: int = 1, dropout: float = 0.3, act: str = "relu"):
        super().__init__()
        blocks: list[nn.Module] = []
        d = d_model
        for _ in range(layers):
            blocks += [nn.Linear(d, hidden), activation(act), nn.Dropout(dropout)]
            d = hidden
        self.mlp = nn.Sequential(*blocks)
        self.out_dim = d

    def forward(self, x: torch.Tensor, mask: torch.Tensor, state: None = None,
                reset: torch.Tensor | None = None) -> tuple[torch.Tensor, None]:
        return self.mlp(x), None
