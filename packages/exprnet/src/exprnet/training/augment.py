"""Training-time input dropout on standardised batches (``data.feature_dropout``, ``data.modality_dropout``).

- feature dropout: every input value of the features (not the present flags) is zeroed with
  probability p, the rest scaled by 1 / (1 - p) (inverted dropout); zero is the column's mean;
- whole-feature ("modality") dropout: per segment, each feature is dropped with probability p:
  all its columns are set to zero (its mean) for the whole segment and its present flag, if the
  model takes flags, says absent; a segment never loses all its features.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class InputDropout:
    def __init__(self, dims: list[int], flag_groups: list[list[int]], feature_p: float, modality_p: float):
        self.feature_p, self.modality_p = feature_p, modality_p
        self.d = sum(dims)
        starts = [0]
        for dim in dims:
            starts.append(starts[-1] + dim)
        self.cols = [(starts[j], starts[j + 1]) for j in range(len(dims))]
        # flag column (after the features) that says feature j is present, if any
        self.flag_of = {j: self.d + c for c, group in enumerate(flag_groups) for j in group}

    @property
    def active(self) -> bool:
        return self.feature_p > 0 or self.modality_p > 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: (B, L, D [+ flags]); returns a new tensor."""
        x = x.clone()
        if self.feature_p > 0:
            x[..., :self.d] = F.dropout(x[..., :self.d], self.feature_p, training=True)
        if self.modality_p > 0 and len(self.cols) > 1:
            drop = torch.rand(x.shape[0], len(self.cols), device=x.device) < self.modality_p
            drop[drop.all(dim=1)] = False  # keep every feature of a segment that would lose all
            for j, (a, b) in enumerate(self.cols):
                keep = (~drop[:, j]).to(x.dtype)[:, None, None]
                x[..., a:b] *= keep
                if j in self.flag_of:
                    x[..., self.flag_of[j]:self.flag_of[j] + 1] *= keep
        return x
