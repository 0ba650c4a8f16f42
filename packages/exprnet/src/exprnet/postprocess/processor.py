"""A fitted post-processing stage as data: applied to one track, saved to JSON, loaded back.

Everything that turns a model's (or an ensemble's) per-frame probabilities into the frames'
expressions implements :class:`PostProcessor`: ``apply`` maps one track's ``(n, 8)``
probabilities to a :class:`Decoded` (probabilities whose rows sum to 1, and the labels: their
argmax for smoothing, the decoded path for a sequence decoder), and ``to_dict`` holds every fitted
parameter, so a bundle (or a run folder) can replay it exactly through :func:`processor_from_dict`.
Kinds register with :func:`register`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ..errors import ConfigError


@dataclass(frozen=True)
class Decoded:
    """One track after post-processing: ``probs`` (n, 8), rows summing to 1, and ``labels`` (n,)."""

    probs: np.ndarray
    labels: np.ndarray


class PostProcessor(Protocol):
    kind: str

    def apply(self, probs: np.ndarray) -> Decoded:
        """One track's (n, 8) probabilities -> its post-processed probabilities and labels."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable: ``kind`` and every fitted parameter."""

    def describe(self) -> str:
        """One line for tables and model cards."""


_KINDS: dict[str, Callable[[dict[str, Any]], PostProcessor]] = {}


def register(kind: str) -> Callable[[Callable[[dict[str, Any]], PostProcessor]], Callable[[dict[str, Any]], PostProcessor]]:
    """Register a loader ``dict -> PostProcessor`` for ``kind`` (the dict's ``kind`` key)."""
    def deco(loader: Callable[[dict[str, Any]], PostProcessor]) -> Callable[[dict[str, Any]], PostProcessor]:
        _KINDS[kind] = loader
        return loader
    return deco


def processor_from_dict(d: dict[str, Any], where: str = "post-processing") -> PostProcessor:
    """The processor ``d`` describes (as written by its ``to_dict``)."""
    kind = d.get("kind") if isinstance(d, dict) else None
    if kind not in _KINDS:
        raise ConfigError(where, f"unknown post-processing kind {kind!r}", f"known: {', '.join(sorted(_KINDS))}")
    return _KINDS[kind](d)


def normalised(probs: np.ndarray) -> np.ndarray:
    """Rows scaled to sum to 1 (float32); an all-zero row becomes uniform."""
    p = np.asarray(probs, dtype=np.float64)
    s = p.sum(1, keepdims=True)
    out = np.where(s > 0, p / np.where(s > 0, s, 1), 1.0 / max(p.shape[1], 1))
    return out.astype(np.float32)


def param_array(d: dict[str, Any], key: str, shape: tuple[int, ...]) -> np.ndarray:
    """``d[key]`` as a float64 array of ``shape``, finite and non-negative (a loader's check)."""
    a = np.asarray(d.get(key), np.float64)
    if a.shape != shape or not np.isfinite(a).all() or (a < 0).any():
        raise ConfigError(f"post-processing {d.get('kind')}: {key}", f"expected {shape} non-negative numbers",
                          "write it with the processor's to_dict")
    return a
