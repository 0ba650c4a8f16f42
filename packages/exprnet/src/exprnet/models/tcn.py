"""Temporal convolutional network: residual blocks of dilated 1-D convolutions (Bai et al., 2018).

Block ``b`` (0-based) has dilation ``2**b``; with kernel ``k`` and ``L`` blocks a frame sees
``(k - 1) * (2**L - 1)`` frames of context: all of it in the past when ``causal``, else half on
each side. Padded rows are zeroed before every convolution, so they never leak into real ones.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .fusion import activation


class TCNBlock(nn.Module):
    """Dilated convolution (as one matmul over the ``kernel`` shifted copies of the sequence:
    faster on CPU than ``Conv1d`` with dilation, and no transposes), activation, dropout, a 1x1
    projection back, residual, LayerNorm."""

    def __init__(self, d_model: int, hidden: int, kernel: int, dilation: int, dropout: float, act: str,
                 causal: bool):
        super().__init__()
        span = (kernel - 1) * dilation
        self.pad = (span, 0) if causal else (span // 2, span - span // 2)
        self.kernel, self.dilation = kernel, dilation
        self.conv = nn.Linear(kernel * d_model, hidden)
        self.act = activation(act)
        self.out = nn.Linear(hidden, d_model)
        self.drop = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(d_model)

    def forward(self, h: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """``h``: (B, L, d_model); ``keep``: (B, L, 1) 1.0 on real rows."""
        n = h.shape[1]
        p = F.pad(h * keep, (0, 0, *self.pad))  # pad the time axis
        taps = torch.cat([p[:, j * self.dilation:j * self.dilation + n] for j in range(self.kernel)], dim=-1)
        z = self.out(self.drop(self.act(self.conv(taps))))
        return self.norm(h + self.drop(z))


class TCNEncoder(nn.Module):
    def __init__(self, d_model: int, hidden: int, layers: int = 6, kernel: int = 3, dropout: float = 0.3,
                 act: str = "relu", causal: bool = False):
        super().__init__()
        self.blocks = nn.ModuleList(TCNBlock(d_model, hidden, kernel, 2**b, dropout, act, causal)
                                    for b in range(layers))
        self.out_dim = d_model
        self.receptive_field = 1 + (kernel - 1) * (2**layers - 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, state: None = None,
                reset: torch.Tensor | None = None) -> tuple[torch.Tensor, None]:
        keep = mask[..., None].to(x.dtype)
        h = x
        for block in self.blocks:
            h = block(h, keep)
        return h, None
