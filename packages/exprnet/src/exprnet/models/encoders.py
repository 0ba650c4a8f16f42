"""Temporal encoders over fused frames.

- :class:`LSTMEncoder`: unidirectional; takes and returns its (h, c) state so segment i+1 of a
  track starts where segment i ended (the caller detaches it: truncated BPTT); ``reset`` zeroes
  the state of the slots that start a new track.
- :class:`TransformerEncoder`: sinusoidal positions, post-norm (or, with ``norm_first``, pre-norm)
  encoder layers, key padding mask.
"""

from __future__ import annotations

import math

import torch
import torch.utils.checkpoint
from torch import nn

State = tuple[torch.Tensor, torch.Tensor]


class LSTMEncoder(nn.Module):
    def __init__(self, d_model: int, hidden: int, layers: int = 1, dropout: float = 0.3):
        super().__init__()
        self.lstm = nn.LSTM(d_model, hidden, num_layers=layers, batch_first=True,
                            dropout=dropout if layers > 1 else 0.0)
        self.out_dim = hidden

    def zero_state(self, batch: int, device: torch.device) -> State:
        shape = (self.lstm.num_layers, batch, self.lstm.hidden_size)
        return torch.zeros(shape, device=device), torch.zeros(shape, device=device)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, state: State | None = None,
                reset: torch.Tensor | None = None) -> tuple[torch.Tensor, State]:
        if state is None:
            state = self.zero_state(x.shape[0], x.device)
        if reset is not None:
            keep = (~reset).to(state[0].dtype)[None, :, None]
            state = (state[0] * keep, state[1] * keep)
        out, new = self.lstm(x, state)
        return out, new


class PositionalEncoding(nn.Module):
    def __init__(self, d_model: int, max_len: int = 4096):
        super().__init__()
        pos = torch.arange(max_len, dtype=torch.float32)[:, None]
        div = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
        pe = torch.zeros(max_len, d_model)
        pe[:, 0::2] = torch.sin(pos * div)
        pe[:, 1::2] = torch.cos(pos * div)[:, : d_model // 2]
        self.register_buffer("pe", pe, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.pe[: x.shape[1]].to(x.dtype)


class TransformerEncoder(nn.Module):
    """``checkpoint=True`` recomputes each layer's activations in the backward pass (activation
    checkpointing): about a third more compute, a fraction of the training memory."""

    def __init__(self, d_model: int, heads: int, layers: int, ff: int, dropout: float = 0.3,
                 act: str = "relu", max_len: int = 4096, checkpoint: bool = False,
                 norm_first: bool = False, pos_dropout: bool = True):
        super().__init__()
        self.pos = PositionalEncoding(d_model, max_len)
        self.drop = nn.Dropout(dropout) if pos_dropout else nn.Identity()
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(d_model, heads, ff, dropout, activation=act, batch_first=True,
                                       norm_first=norm_first)
            for _ in range(layers))
        # pre-norm layers leave their output unnormalised: one LayerNorm at the end (as in GPT-2, ViT)
        self.final_norm = nn.LayerNorm(d_model) if norm_first else nn.Identity()
        self.checkpoint = checkpoint
        self.out_dim = d_model

    def forward(self, x: torch.Tensor, mask: torch.Tensor, state: None = None,
                reset: torch.Tensor | None = None) -> tuple[torch.Tensor, None]:
        pad = ~mask
        pad[pad.all(dim=1)] = False  # an idle slot attends to its zeros instead of to nothing (NaN)
        h = self.drop(self.pos(x))
        for layer in self.layers:
            if self.checkpoint and self.training and torch.is_grad_enabled():
                h = torch.utils.checkpoint.checkpoint(layer, h, None, pad, use_reentrant=False)
            else:
                h = layer(h, src_key_padding_mask=pad)
        return self.final_norm(h), None
