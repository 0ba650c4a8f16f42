"""Bidirectional LSTM over one segment (no state carried between segments).

Each layer runs one LSTM forward in time and one over each sequence reversed *within its real
length*, so the backward direction starts at a segment's last real row, not in its padding, and
padding (always at the end) never reaches a real row. Two plain LSTM calls per layer, no packing
(packed sequences are several times slower on CPU). Output: ``2 * hidden`` per frame.
"""

from __future__ import annotations

import torch
from torch import nn


def reverse_within(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each row's first ``lengths[b]`` steps; padding stays where it is (its own inverse)."""
    t = torch.arange(x.shape[1], device=x.device)[None, :]
    idx = torch.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)
    return x.gather(1, idx[..., None].expand_as(x))


class BiLSTMEncoder(nn.Module):
    def __init__(self, d_model: int, hidden: int, layers: int = 1, dropout: float = 0.3):
        super().__init__()
        self.fwd = nn.ModuleList(nn.LSTM(d_model if k == 0 else 2 * hidden, hidden, batch_first=True)
                                 for k in range(layers))
        self.bwd = nn.ModuleList(nn.LSTM(d_model if k == 0 else 2 * hidden, hidden, batch_first=True)
                                 for k in range(layers))
        self.drop = nn.Dropout(dropout)
        self.out_dim = 2 * hidden

    def forward(self, x: torch.Tensor, mask: torch.Tensor, state: None = None,
                reset: torch.Tensor | None = None) -> tuple[torch.Tensor, None]:
        lengths = mask.sum(1)
        h = x
        for k, (f, b) in enumerate(zip(self.fwd, self.bwd, strict=True)):
            if k:
                h = self.drop(h)
            out_f, _ = f(h)
            out_b, _ = b(reverse_within(h, lengths))
            h = torch.cat([out_f, reverse_within(out_b, lengths)], dim=-1)
        return h, None
