"""A VA or AU head blended with its linear partner on the same inputs (``smooth.baseline: auto``).

The partner is the task baseline's model (:mod:`exprnet.tasks.baselines`) fitted on exactly the
network's inputs: VA a ridge regression (:class:`~exprnet.tasks.baselines.VARidge`, values clipped
to [-1, 1]), AU a per-AU class-balanced logistic regression
(:class:`~exprnet.tasks.baselines.AULogistic`, probabilities). The run's outputs of the task are
``w * net + (1 - w) * partner`` (VA per dimension on values, AU per AU on probabilities), before
the task's post-processing (``RUN/task_post.json``). Kept beside the EXPR arrays of ``blend.npz``
under the task's prefix: ``va.network_weight``, ``va.coef`` (d, 2), ``va.intercept`` (2,); ``au.``
likewise with 12 columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import RunError
from ..tasks.baselines import AULogistic, VARidge

TASKS = ("va", "au")


@dataclass(frozen=True)
class TaskBlend:
    """A VA/AU head's blend: the network's weight and the partner's weights."""

    task: str  # "va" or "au"
    network_weight: float
    coef: np.ndarray  # (d, 2) VA, (d, 12) AU
    intercept: np.ndarray

    def partner(self, x: np.ndarray) -> np.ndarray:
        """The partner's (n, width) float32 outputs of inputs ``x`` (the baseline model's own prediction)."""
        if self.task == "va":
            return VARidge(self.coef, self.intercept).predict(x)
        return AULogistic(self.coef, self.intercept).predict_proba(x)

    def mix(self, net: np.ndarray, base: np.ndarray) -> np.ndarray:
        return (self.network_weight * np.asarray(net, np.float32)
                + (1 - self.network_weight) * np.asarray(base, np.float32)).astype(np.float32)

    def arrays(self) -> dict[str, np.ndarray]:
        p = self.task
        return {f"{p}.network_weight": np.float64(self.network_weight),
                f"{p}.coef": np.asarray(self.coef, np.float32), f"{p}.intercept": np.asarray(self.intercept, np.float32)}

    @classmethod
    def from_arrays(cls, task: str, a: Any, where: str) -> TaskBlend:
        need = [f"{task}.{k}" for k in ("network_weight", "coef", "intercept")]
        missing = [k for k in need if k not in a]
        if missing:
            raise RunError(where, f"lacks {', '.join(missing)}", "refit the run's post-processing (exprnet train)")
        w = float(np.asarray(a[need[0]], np.float64).reshape(-1)[0])
        if not 0.0 <= w <= 1.0:
            raise RunError(where, f"{need[0]} {w} is not in [0, 1]", "refit the run's post-processing")
        coef, icpt = np.asarray(a[need[1]], np.float32), np.asarray(a[need[2]], np.float32).reshape(-1)
        if coef.ndim != 2 or coef.shape[1] != len(icpt):
            raise RunError(where, f"{task}.coef {coef.shape} does not match {task}.intercept {icpt.shape}",
                           "refit the run's post-processing")
        return cls(task, w, coef, icpt)


class LinearPartner(nn.Module):
    """A partner inside :class:`~exprnet.models.blend.BlendedNet`: a linear map of the network's
    inputs (``weight`` (in, k), ``bias`` (k,), in fp32 whatever the autocast), and the network's
    weight ``w`` in the mix; subclasses say how the two mix."""

    def __init__(self, weight: np.ndarray, bias: np.ndarray, w: float):
        super().__init__()
        self.width = int(weight.shape[1])
        self.register_buffer("weight", torch.from_numpy(np.ascontiguousarray(weight, np.float32)))
        self.register_buffer("bias", torch.from_numpy(np.ascontiguousarray(bias, np.float32)))
        self.w = float(w)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=x.device.type, enabled=False):
            return x.float() @ self.weight + self.bias


class TaskPartner(LinearPartner):
    """A VA/AU partner: raw linear outputs from the inputs, mixed with the head's predictions (VA
    values; AU sigmoid probabilities)."""

    def __init__(self, blend: TaskBlend):
        super().__init__(blend.coef, blend.intercept, blend.network_weight)
        self.blend = blend

    def mix(self, p_net: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
        h = raw.float()
        base = h.clamp(-1.0, 1.0) if self.blend.task == "va" else torch.sigmoid(h.clamp(-60.0, 60.0))
        return self.w * p_net.float() + (1 - self.w) * base
