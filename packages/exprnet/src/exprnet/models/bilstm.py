"""Bidirectional LSTM over one segment (no state carried between segments).

Each direction has ``hidden`` units (output ``2 * hidden``). Sequences are packed by their real
length, so the backward direction starts at a segment's last real row, not in its padding.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class BiLSTMEncoder(nn.Module):
    def __init__(self, d_model: int, hidden: int, layers: int = 1, dropout: float = 0.3):
        super().__init__()
        self.lstm = nn.LSTM(d_model, hidden, num_layers=layers, batch_first=True, bidirectional=True,
                            dropout=dropout if layers > 1 else 0.0)
        self.out_dim = 2 * hidden

    def forward(self, x: torch.Tensor, mask: torch.Tensor, state: None = None,
                reset: torch.Tensor | None = None) -> tuple[torch.Tensor, None]:
        lengths = mask.sum(1)
        if bool((lengths == x.shape[1]).all()):
            out, _ = self.lstm(x)
            return out, None
        packed = pack_padded_sequence(x, lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        return out, None
