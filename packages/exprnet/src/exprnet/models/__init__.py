"""The network: fusion -> temporal encoder (LSTM, BiLSTM, Transformer, TCN or per-frame MLP) -> per-frame MLP head.

A multi-task network has one head per task on the shared encoder (EXPR: 8 logits, as ``head``;
VA: 2 values in [-1, 1] after tanh; AU: 12 logits, in ``heads``); its output is the tasks' outputs
side by side, in :data:`~featurizer.core.classes.TASKS` order (``slices`` says where each is).

Built here (:func:`build_model`); :mod:`.inference` runs one over whole tracks (the LSTM's state
carried, the others' windows averaged), for validation and prediction alike.

May import: :mod:`exprnet.config`, :mod:`exprnet.data`.
"""

from __future__ import annotations

from collections.abc import Sequence
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


TASK_OUTPUTS = {"expr": N_CLASSES, "va": 2, "au": 12}


class ExprNet(nn.Module):
    def __init__(self, in_dim: int, cfg: ModelConfig, n_classes: int = N_CLASSES, tasks: Sequence[str] = ("expr",)):
        super().__init__()
        assert cfg.d_model and cfg.hidden and cfg.layers and cfg.segment, "resolve the config first"
        self.encoder_kind = cfg.encoder
        self.tasks = [t for t in TASK_OUTPUTS if t in tasks]
        self.fusion = Fusion(in_dim, cfg.d_model, cfg.activation, cfg.dropout, cfg.fusion, cfg.fusion_bias)
        self.encoder = build_encoder(cfg)
        head_dropout = cfg.dropout if cfg.head_dropout is None else cfg.head_dropout
        if "expr" in self.tasks:
            self.head = Head(self.encoder.out_dim, cfg.head, n_classes, cfg.activation, head_dropout)
        self.heads = nn.ModuleDict({t: Head(self.encoder.out_dim, cfg.head, TASK_OUTPUTS[t], cfg.activation,
                                            head_dropout) for t in self.tasks if t != "expr"})
        self.slices: dict[str, slice] = {}
        at = 0
        for t in self.tasks:
            k = n_classes if t == "expr" else TASK_OUTPUTS[t]
            self.slices[t], at = slice(at, at + k), at + k
        self.n_outputs = at

    @property
    def multitask(self) -> bool:
        return self.tasks != ["expr"]

    def outputs(self, h: torch.Tensor) -> torch.Tensor:
        """Encoder states -> every task's outputs side by side (EXPR alone: its logits)."""
        if not self.multitask:
            return self.head(h)
        return torch.cat([self.head(h) if t == "expr" else
                          torch.tanh(self.heads[t](h)) if t == "va" else self.heads[t](h) for t in self.tasks], -1)

    def to_probs(self, out: torch.Tensor) -> torch.Tensor:
        """Outputs -> per-frame predictions: EXPR softmax probabilities, VA values, AU sigmoid probabilities."""
        out = out.float()
        if not self.multitask:
            return torch.softmax(out, dim=-1)
        return torch.cat([torch.softmax(out[..., s], -1) if t == "expr" else torch.sigmoid(out[..., s]) if t == "au"
                          else out[..., s] for t, s in self.slices.items()], -1)

    @property
    def stateful(self) -> bool:
        return self.encoder_kind == "lstm"

    def forward(self, x: torch.Tensor, mask: torch.Tensor, state: Any = None,
                reset: torch.Tensor | None = None) -> tuple[torch.Tensor, Any]:
        """(B, L, in_dim) -> logits (B, L, n_classes) (multi-task: (B, L, n_outputs), see :meth:`outputs`)
        and the encoder's state (LSTM) or None."""
        h, state = self.encoder(self.fusion(x), mask, state, reset)
        return self.outputs(h), state


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


def build_model(in_dim: int, cfg: ModelConfig, tasks: Sequence[str] = ("expr",)) -> ExprNet:
    return ExprNet(in_dim, cfg, tasks=tasks)
