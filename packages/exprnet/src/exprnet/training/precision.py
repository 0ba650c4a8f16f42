"""Mixed precision for training and prediction (``train.amp``, on by default).

On a CUDA GPU with native bfloat16 (Ampere and later): bf16 autocast, no loss scaling (bf16 has
float32's exponent range, so gradients do not underflow). On an older GPU: fp16 autocast with a
:class:`torch.amp.GradScaler` that scales the loss and skips steps whose gradients overflowed. On
the CPU, or with ``train.amp: false``: float32. Weights and optimizer state stay float32 always;
autocast runs matrix products and convolutions in the lower precision, norms and losses in
float32. Checkpoints keep the scaler's state (empty unless fp16), so a resumed run repeats.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import torch
from featurizer.core.device import has_native_bf16


@dataclass(frozen=True)
class MixedPrecision:
    device: torch.device
    dtype: torch.dtype | None = None  # None: float32, no autocast

    @classmethod
    def choose(cls, device: torch.device, amp: bool) -> MixedPrecision:
        """bf16 on a GPU that computes it natively, else fp16 on CUDA; float32 on the CPU."""
        if not amp or device.type != "cuda":
            return cls(device)
        return cls(device, torch.bfloat16 if has_native_bf16(device) else torch.float16)

    @property
    def name(self) -> str:
        return {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(self.dtype, "fp32")  # type: ignore[arg-type]

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    @staticmethod
    def float32(*outputs: torch.Tensor | None) -> tuple[torch.Tensor | None, ...]:
        """Outputs of the autocast forward in float32, for the loss (its softmax, CRF and KL terms
        lose too much in bf16 or fp16)."""
        return tuple(None if t is None else t.float() for t in outputs)

    def scaler(self) -> torch.amp.GradScaler:
        """Loss scaling for fp16 only (a disabled scaler passes the loss and the step through)."""
        return torch.amp.GradScaler(self.device.type, enabled=self.dtype == torch.float16)
