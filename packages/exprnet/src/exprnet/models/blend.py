"""A run's network blended with a linear partner on the same inputs (``smooth.baseline: auto``).

The EXPR partner is a class-balanced logistic regression on exactly the network's inputs (the
same builder rows: features, ``data.normalize``, present flags). Each side has its own temperature
(fitted on its out-of-fold training probabilities, :mod:`exprnet.training.blend`); the run's
probabilities are ``w * cal_net(p_net) + (1 - w) * cal_base(p_base)``, then the run's own
calibration and decoder as for any run. ``RUN/checkpoints/blend.npz`` keeps ``w``, the two
temperatures and the regression's weights (no pickle); a bundle member keeps the same arrays in
``blend.safetensors``.

:class:`BlendedNet` wraps the network with the network's forward signature (``x, mask, state,
reset``; the LSTM's state passes through untouched): its output is the network's outputs followed
by each partner's raw outputs, and :meth:`BlendedNet.to_probs` returns the network's predictions
with each partnered task's slice replaced by the blend, so every caller that runs
``net(...)`` then ``net.to_probs(...)`` (prediction, bundles, live) gets the blend unchanged.

VA and AU plug in the same way (:mod:`.task_blend`): a partner module per task
(``partners[task]``) with ``width`` raw outputs, ``logits(x)`` and
``mix(task_slice_of_network_predictions, raw)``: VA a ridge regression mixed as
``w * net + (1 - w) * ridge`` per dimension; AU a per-AU logistic regression mixed per AU on
probabilities; stored beside the EXPR arrays under a task prefix (``va.``, ``au.``). A file with
EXPR's arrays alone reads as an :class:`ExprBlend`; one with a task's as a :class:`RunBlend`.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from featurizer.core.files import atomic_write_bytes
from torch import nn

from ..config import N_CLASSES, ModelConfig
from ..errors import RunError
from ..postprocess.priors import FLOOR
from . import ExprNet, build_model
from .task_blend import TASKS, LinearPartner, TaskBlend, TaskPartner

BLEND_FILE = "blend.npz"  # in RUN/checkpoints/


@dataclass(frozen=True)
class ExprBlend:
    """The fitted EXPR blend: the network's weight, each side's temperature, the regression."""

    network_weight: float
    net_temperature: float
    base_temperature: float
    classes: np.ndarray  # (K,) labels the regression saw, ascending
    weight: np.ndarray  # (d, K) or (d, 1) with two classes (sklearn's binary form)
    bias: np.ndarray  # (K,) or (1,)

    def base_probs(self, x: np.ndarray) -> np.ndarray:
        """(n, 8) float32 probabilities of the regression (FrameClassifier's forward pass)."""
        h = np.asarray(x, np.float32) @ self.weight + self.bias
        if h.shape[1] == 1:
            h = np.concatenate([np.zeros_like(h), h], axis=1)
        h = h - h.max(1, keepdims=True)
        e = np.exp(h)
        out = np.zeros((len(h), N_CLASSES), np.float32)
        out[:, self.classes] = e / e.sum(1, keepdims=True)
        return out

    def mix(self, p_net: np.ndarray, p_base: np.ndarray) -> np.ndarray:
        """The blend of the two sides' (n, 8) probabilities, each after its own temperature."""
        return (self.network_weight * _temper(p_net, self.net_temperature)
                + (1 - self.network_weight) * _temper(p_base, self.base_temperature)).astype(np.float32)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"network_weight": np.float64(self.network_weight), "net_temperature": np.float64(self.net_temperature),
                "base_temperature": np.float64(self.base_temperature), "classes": np.asarray(self.classes, np.int64),
                "w0": np.asarray(self.weight, np.float32), "b0": np.asarray(self.bias, np.float32)}

    @classmethod
    def from_arrays(cls, a: Any, where: str) -> ExprBlend:
        need = ("network_weight", "net_temperature", "base_temperature", "classes", "w0", "b0")
        missing = [k for k in need if k not in a]
        if missing:
            raise RunError(where, f"lacks {', '.join(missing)}", "refit the run's post-processing (exprnet train)")
        w = _scalar(a["network_weight"])
        if not 0.0 <= w <= 1.0:
            raise RunError(where, f"network_weight {w} is not in [0, 1]", "refit the run's post-processing")
        return cls(w, _scalar(a["net_temperature"]), _scalar(a["base_temperature"]),
                   np.asarray(a["classes"], np.int64), np.asarray(a["w0"], np.float32), np.asarray(a["b0"], np.float32))

    def save(self, path: str | Path) -> None:
        buf = io.BytesIO()
        np.savez(buf, **self.arrays())
        atomic_write_bytes(path, buf.getvalue())

    @classmethod
    def load(cls, path: str | Path) -> ExprBlend:
        with np.load(path, allow_pickle=False) as z:
            return cls.from_arrays({k: z[k] for k in z.files}, str(path))


def _scalar(v: Any) -> float:
    return float(np.asarray(v, np.float64).reshape(-1)[0])


def _temper(p: np.ndarray, t: float) -> np.ndarray:
    """:meth:`exprnet.postprocess.calibration.Calibration.calibrate` with a temperature alone."""
    z = np.log(np.maximum(np.asarray(p, np.float64), FLOOR)) / t
    z -= z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def _temper_t(p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return torch.softmax(torch.log(p.clamp_min(FLOOR)) / t, dim=-1)


class ExprPartner(LinearPartner):
    """The EXPR partner: logistic regression outputs from the inputs, mixed with the network's
    softmax probabilities (both tempered)."""

    def __init__(self, blend: ExprBlend):
        super().__init__(blend.weight, blend.bias, blend.network_weight)
        self.blend = blend
        self.register_buffer("classes", torch.from_numpy(np.asarray(blend.classes, np.int64)))
        self.register_buffer("temps", torch.tensor([blend.net_temperature, blend.base_temperature], dtype=torch.float32))

    def mix(self, p_net: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
        h = raw.float()
        if h.shape[-1] == 1:
            h = torch.cat([torch.zeros_like(h), h], -1)
        p_base = torch.zeros(*h.shape[:-1], N_CLASSES, dtype=h.dtype, device=h.device)
        p_base[..., self.classes] = torch.softmax(h, dim=-1)
        return self.w * _temper_t(p_net.float(), self.temps[0]) + (1 - self.w) * _temper_t(p_base, self.temps[1])


class BlendedNet(nn.Module):
    """The network and its partners, used exactly like the network for prediction."""

    def __init__(self, net: ExprNet, partners: dict[str, nn.Module]):
        super().__init__()
        self.net = net
        self.partners = nn.ModuleDict({t: partners[t] for t in net.tasks if t in partners})

    @property
    def tasks(self) -> list[str]:
        return self.net.tasks

    @property
    def slices(self) -> dict[str, slice]:
        return self.net.slices

    @property
    def n_outputs(self) -> int:
        return self.net.n_outputs

    @property
    def multitask(self) -> bool:
        return self.net.multitask

    @property
    def stateful(self) -> bool:
        return self.net.stateful

    @property
    def encoder_kind(self) -> str:
        return self.net.encoder_kind

    def forward(self, x: torch.Tensor, mask: torch.Tensor, state: Any = None,
                reset: torch.Tensor | None = None) -> tuple[torch.Tensor, Any]:
        """The network's outputs, then each partner's raw outputs (in task order), and its state."""
        out, state = self.net(x, mask, state, reset)
        return torch.cat([out.float(), *[p.logits(x) for p in self.partners.values()]], -1), state

    def to_probs(self, out: torch.Tensor) -> torch.Tensor:
        """The network's predictions with each partnered task's slice replaced by the blend."""
        n = self.net.n_outputs
        p = self.net.to_probs(out[..., :n])
        at, parts = n, []
        for t, s in self.net.slices.items():
            if t in self.partners:
                part = self.partners[t]
                parts.append(part.mix(p[..., s], out[..., at:at + part.width]))
                at += part.width
            else:
                parts.append(p[..., s])
        return torch.cat(parts, -1)


@dataclass(frozen=True)
class RunBlend:
    """A run's blends: EXPR's (if any) and each VA/AU head's (:class:`~.task_blend.TaskBlend`)."""

    expr: ExprBlend | None = None
    tasks: dict[str, TaskBlend] = field(default_factory=dict)

    def arrays(self) -> dict[str, np.ndarray]:
        out = {} if self.expr is None else self.expr.arrays()
        for b in self.tasks.values():
            out.update(b.arrays())
        return out

    def save(self, path: str | Path) -> None:
        buf = io.BytesIO()
        np.savez(buf, **self.arrays())
        atomic_write_bytes(path, buf.getvalue())


Blend = ExprBlend | RunBlend


def parse_blend(a: Any, where: str) -> Blend:
    """The blend of ``blend.npz`` / ``blend.safetensors`` arrays: an :class:`ExprBlend` when they hold
    EXPR's alone (files written before VA/AU blends), else a :class:`RunBlend`."""
    tasks = {t: TaskBlend.from_arrays(t, a, where) for t in TASKS if f"{t}.network_weight" in a}
    if not tasks:
        return ExprBlend.from_arrays(a, where)
    return RunBlend(ExprBlend.from_arrays(a, where) if "network_weight" in a else None, tasks)


def partners_of(blend: Blend) -> dict[str, nn.Module]:
    if isinstance(blend, ExprBlend):
        return {"expr": ExprPartner(blend)}
    out: dict[str, nn.Module] = {} if blend.expr is None else {"expr": ExprPartner(blend.expr)}
    out.update({t: TaskPartner(b) for t, b in blend.tasks.items()})
    return out


def attach(net: ExprNet, blend: Blend | None) -> nn.Module:
    """``net`` blended with ``blend`` (the network itself without one)."""
    return net if blend is None else BlendedNet(net, partners_of(blend))


def build_network(input_dim: int, cfg: ModelConfig, tasks: Sequence[str], state: dict, blend: Blend | None
                  ) -> nn.Module:
    """The one way a trained network is built for prediction: built, its weights loaded strictly,
    its blend attached (if it has one)."""
    net = build_model(input_dim, cfg, tasks)
    net.load_state_dict(state)
    return attach(net, blend)


def blend_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / "checkpoints" / BLEND_FILE


def read_blend(run_dir: str | Path) -> Blend | None:
    """The blend a run folder keeps (``RUN/checkpoints/blend.npz``), or None."""
    p = blend_path(run_dir)
    if not p.exists():
        return None
    with np.load(p, allow_pickle=False) as z:
        return parse_blend({k: z[k] for k in z.files}, str(p))


def load_run_network(run_dir: str | Path, input_dim: int, cfg: ModelConfig, tasks: Sequence[str],
                     checkpoint: str = "best") -> nn.Module:
    """A run folder's network at ``checkpoint``, blended when the run kept a blend."""
    from ..training.runfolder import RunFolder

    return build_network(input_dim, cfg, tasks, RunFolder(run_dir).load(checkpoint)["model"], read_blend(run_dir))
