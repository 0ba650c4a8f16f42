"""Calibration of per-frame probabilities: temperature scaling, optionally with per-class biases.

``Calibration.apply``: ``softmax(log p / T + b)`` (Guo et al., 2017). It is fitted by minimising
the negative log-likelihood of the labelled frames of *out-of-fold* training predictions (a
baseline's cross-validation groups; a network's ``smooth.folds`` sub-runs), never on validation.
The temperature alone keeps every frame's argmax; the biases (``calibrate: bias``) are fitted with
class-balanced frame weights (N / (C n_c)), so they keep the balanced posterior the losses train
towards instead of bringing the training prior back. A run keeps its calibration in
``RUN/calibration.json`` (:func:`read_calibration`); it is applied before decoding and before
members are averaged in a soft vote. It is a post-processing kind itself (``calibration``), so a
run's whole chain is a list of processor dicts: ``[calibration, viterbi]``. ECE (:func:`ece`): the expected calibration error of the
top class, 15 equal-width confidence bins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from featurizer.core.files import atomic_write_json
from scipy.optimize import minimize
from scipy.special import log_softmax

from ..errors import ConfigError
from .priors import FLOOR
from .processor import Decoded, register

CALIBRATION_FILE = "calibration.json"
MODES = ("none", "temperature", "bias")


def resolve_mode(mode: str, out_of_fold: bool) -> str:
    """``smooth.calibrate`` as fitted: ``auto`` is temperature on out-of-fold predictions, else none."""
    return ("temperature" if out_of_fold else "none") if mode == "auto" else mode
MAX_FRAMES = 200_000  # labelled frames a calibration is fitted on at most (a seeded random subset beyond)


@dataclass(frozen=True)
class Calibration:
    temperature: float = 1.0
    bias: np.ndarray | None = None  # (C,) added to the log-probabilities after the division
    kind: str = "calibration"

    def calibrate(self, probs: np.ndarray) -> np.ndarray:
        """(n, C) probabilities -> calibrated (n, C) float32, rows summing to 1."""
        z = np.log(np.maximum(np.asarray(probs, np.float64), FLOOR)) / self.temperature
        if self.bias is not None:
            z = z + self.bias[None, :]
        return np.exp(log_softmax(z, axis=1)).astype(np.float32)

    def apply(self, probs: np.ndarray) -> Decoded:
        """As a post-processing stage (:class:`~.processor.PostProcessor`): the calibrated
        probabilities and their argmax (a temperature alone keeps every frame's argmax)."""
        q = self.calibrate(probs)
        return Decoded(q, q.argmax(1))

    @property
    def identity(self) -> bool:
        return self.temperature == 1.0 and self.bias is None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "calibration", "temperature": float(self.temperature),
                "bias": None if self.bias is None else [float(v) for v in self.bias]}

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "calibration") -> Calibration:
        t = d.get("temperature") if isinstance(d, dict) else None
        if not isinstance(t, (int, float)) or not t > 0:
            raise ConfigError(where, f"temperature {t!r} is not a positive number", "write it with Calibration.to_dict")
        bias = d.get("bias")
        return cls(float(t), None if bias is None else np.asarray(bias, np.float64))

    def describe(self) -> str:
        extra = "" if self.bias is None else f", per-class bias {np.round(self.bias, 2).tolist()}"
        return f"calibration: temperature {self.temperature:.3f}{extra}"


@register("calibration")
def _load(d: dict[str, Any]) -> Calibration:
    return Calibration.from_dict(d, "post-processing calibration")


def _frames(probs: Sequence[np.ndarray], labels: Sequence[np.ndarray], seed: int
            ) -> tuple[np.ndarray, np.ndarray]:
    p = np.concatenate([np.asarray(x, np.float64) for x in probs])
    y = np.concatenate([np.asarray(v, np.int64) for v in labels])
    keep = np.flatnonzero(y >= 0)
    if len(keep) == 0:
        raise ConfigError("calibration", "the training predictions have no labelled frame")
    if len(keep) > MAX_FRAMES:
        keep = np.sort(np.random.default_rng(seed).choice(keep, MAX_FRAMES, replace=False))
    return np.log(np.maximum(p[keep], FLOOR)), y[keep]


def fit_calibration(probs: Sequence[np.ndarray], labels: Sequence[np.ndarray], mode: str = "temperature",
                    seed: int = 0) -> Calibration:
    """The calibration of ``mode`` (temperature, or bias: temperature and per-class biases) with the
    least negative log-likelihood on the labelled frames given."""
    if mode not in MODES:
        raise ConfigError(f"calibrate {mode}", "unknown calibration", f"choose from {', '.join(MODES)}")
    if mode == "none":
        return Calibration()
    logp, y = _frames(probs, labels, seed)
    n, c = logp.shape
    if mode == "bias":
        counts = np.bincount(y, minlength=c).astype(np.float64)
        w = (n / (c * np.maximum(counts, 1)))[y]
    else:
        w = np.ones(n)
    w = w / w.sum()
    rows = np.arange(n)

    def nll(x: np.ndarray) -> tuple[float, np.ndarray]:
        inv = np.exp(-x[0])  # 1 / T, with T = exp(x[0]) > 0
        b = x[1:] if mode == "bias" else np.zeros(c)
        ls = log_softmax(logp * inv + b[None], axis=1)
        g_z = np.exp(ls)
        g_z[rows, y] -= 1.0
        g_z *= w[:, None]  # d nll / d z
        grad = [-(g_z * logp).sum() * inv]
        if mode == "bias":
            grad += list(g_z.sum(0))
        return float(-(w * ls[rows, y]).sum()), np.array(grad)

    x0 = np.zeros(1 + (c if mode == "bias" else 0))
    x = minimize(nll, x0, jac=True, method="L-BFGS-B").x
    bias = None
    if mode == "bias":
        bias = x[1:] - x[1:].mean()
    return Calibration(float(np.exp(x[0])), bias)


def ece(probs: Sequence[np.ndarray] | np.ndarray, labels: Sequence[np.ndarray] | np.ndarray, bins: int = 15) -> float:
    """Expected calibration error of the top class over the labelled frames (equal-width bins)."""
    p = np.concatenate(list(probs)) if not isinstance(probs, np.ndarray) else probs
    y = np.concatenate(list(labels)) if not isinstance(labels, np.ndarray) else labels
    keep = y >= 0
    p, y = p[keep], y[keep]
    if len(y) == 0:
        return float("nan")
    conf, hit = p.max(1), (p.argmax(1) == y).astype(np.float64)
    idx = np.minimum((conf * bins).astype(np.int64), bins - 1)
    n = np.bincount(idx, minlength=bins)
    gap = np.abs(np.bincount(idx, conf, bins) - np.bincount(idx, hit, bins))
    return float(gap.sum() / max(n.sum(), 1))


def read_calibration(run: str | Path) -> Calibration | None:
    """The calibration a run folder keeps in ``RUN/calibration.json``, or None if it has none."""
    path = Path(run) / CALIBRATION_FILE
    if not path.exists():
        return None
    import json

    d = json.loads(path.read_text())
    return Calibration.from_dict(d, str(path)) if d.get("temperature") is not None else None


def write_calibration(run: str | Path, cal: Calibration, info: dict[str, Any]) -> None:
    """``RUN/calibration.json``: the fitted parameters and how they were fitted (``info``)."""
    atomic_write_json(Path(run) / CALIBRATION_FILE, {**cal.to_dict(), **info})
