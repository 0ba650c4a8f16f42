"""The network: fusion -> temporal encoder (LSTM, BiLSTM, Transformer, TCN or per-frame MLP) -> per-frame MLP head.

Built here (:func:`build_model`); :mod:`.inference` runs one over whole tracks (the LSTM's state
carried, the others' windows averaged), for validation and prediction alike.

May import: :mod:`exprnet.config`, :mod:`exprnet.data`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..config import N_CLASSES, ModelConfig
from .bilstm import BiLSTMEncoder
from .encoders import LSTMEncoder, State, TransformerEncoder
from .fusion import Fusion
from .head import Head
from .mlp import FrameMLP
from .tcn import TCNEncoder

__all__ = ["ExprNet", "build_encoder", "build_model", "State"]


class ExprNet(nn.Module):
    def __init__(self, in_dim: int, cfg: ModelConfig, n_classes: int = N_CLASSES):
        super().__init__()
        assert cfg.d_model and cfg.hidden and cfg.layers and cfg.segment, "resolve the config first"
        self.encoder_kind = cfg.encoder
        self.fusion = Fusion(in_dim, cfg.d_model, cfg.activation, cfg.dropout, cfg.fusion, cfg.fusion_bias)
        self.encoder = build_encoder(cfg)
        head_dropout = cfg.dropout if cfg.head_dropout is None else cfg.head_dropout
        self.head = Head(self.encoder.out_dim, cfg.head, n_classes, cfg.activation, head_dropout)

    @property
    def stateful(self) -> bool:
        return self.encoder_kind == "lstm"

    def forward(self, x: torch.Tensor, mask: torch.Tensor, state: Any = None,
                reset: torch.Tensor | None = None) -> tuple[torch.Tensor, Any]:
        """(B, L, in_dim) -> logits (B, L, n_classes) and the encoder's state (LSTM) or None."""
        h, state = self.encoder(self.fusion(x), mask, state, reset)
        return self.head(h), state


def build_encoder(cfg: ModelConfig) -> nn.Module:
    """The temporal encoder named by ``model.encoder`` (see docs/exprnet.md)."""
    assert cfg.d_model and cfg.hidden and cfg.layers and cfg.segment
    if cfg.encoder == "lstm":
        return LSTMEncoder(cfg.d_model, cfg.hidden, cfg.layers, cfg.dropout)
    if cfg.encoder == "bilstm":
        return BiLSTMEncoder(cfg.d_model, cfg.hidden, cfg.layers, cfg.dropout)
    if cfg.encoder == "tcn":
        return TCNEncoder(cfg.d_model, cfg.hidden, cfg.layers, cfg.kernel, cfg.dropout, cfg.activation, cfg.causal)
    if cfg.encoder == "mlp":
        return FrameMLP(cfg.d_model, cfg.hidden, cfg.layers, cfg.dropout, cfg.activation)
    return TransformerEncoder(cfg.d_model, cfg.heads, cfg.layers, cfg.hidden, cfg.dropout, cfg.activation,
                              max_len=max(cfg.segment, 1), checkpoint=cfg.checkpoint,
                              norm_first=cfg.norm_first, pos_dropout=cfg.pos_dropout)


def build_model(in_dim: int, cfg: ModelConfig) -> ExprNet:
    return ExprNet(in_dim, cfg)
