"""VA and AU figures as PNG (matplotlib's Agg figures, written atomically like :mod:`exprnet.reports.plots`).

- :func:`plot_va_scatter`: predicted against true valence and arousal on annotated frames;
- :func:`plot_va_series`: one track's true and predicted valence and arousal over its frames;
- :func:`plot_au_f1`: per-AU F1 bars, their mean as a line.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..reports.plots import atomic_savefig
from .metrics import ccc, va_mask
from .names import AU_NAMES, VA_NAMES


def _figure(**kw: object) -> object:
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    return Figure(**kw)


def plot_va_scatter(pred: np.ndarray, true: np.ndarray, path: str | Path, title: str = "validation",
                    max_points: int = 20_000, seed: int = 0) -> None:
    """Two panels (valence, arousal): prediction against truth on annotated frames (a random
    ``max_points`` of them drawn), the identity line and the CCC in the title."""
    keep = va_mask(true)
    p, t = np.asarray(pred, np.float64)[keep], np.asarray(true, np.float64)[keep]
    show = np.arange(len(p))
    if len(show) > max_points:
        show = np.sort(np.random.default_rng(seed).choice(len(p), max_points, replace=False))
    fig = _figure(figsize=(8.4, 4.0))
    for d, ax in enumerate(fig.subplots(1, 2)):  # type: ignore[attr-defined]
        ax.scatter(t[show, d], p[show, d], s=3, alpha=0.3, lw=0)
        ax.plot([-1, 1], [-1, 1], color="grey", lw=0.8, ls="--")
        ax.set(xlim=(-1, 1), ylim=(-1, 1), xlabel=f"true {VA_NAMES[d]}", ylabel=f"predicted {VA_NAMES[d]}",
               title=f"{title}: CCC {ccc(p[:, d], t[:, d]):.3f}", aspect="equal")
    atomic_savefig(fig, path)


def plot_va_series(pred: np.ndarray, true: np.ndarray, path: str | Path, track: str = "") -> None:
    """One track over its frames: true (NaN frames left blank) and predicted valence and arousal."""
    pred, true = np.asarray(pred, np.float64), np.asarray(true, np.float64)
    fig = _figure(figsize=(10, 4.2))
    axes = fig.subplots(2, 1, sharex=True)  # type: ignore[attr-defined]
    frames = np.arange(1, len(pred) + 1)
    for d, ax in enumerate(axes):
        ax.plot(frames, true[:, d], color="black", lw=1.0, label="true")
        ax.plot(frames, pred[:, d], color="tab:orange", lw=1.0, label="predicted")
        ax.set(ylim=(-1.05, 1.05), ylabel=VA_NAMES[d])
        ax.axhline(0, color="grey", lw=0.5)
    axes[0].legend(loc="upper right", fontsize=8)
    axes[0].set_title(track or "track")
    axes[-1].set_xlabel("frame")
    atomic_savefig(fig, path)


def plot_au_f1(scores: Mapping[str, float], path: str | Path, title: str = "validation") -> None:
    """Bars of ``scores["f1_AU*"]`` (the keys of :func:`exprnet.tasks.metrics.au_scores`, with or
    without a ``val_`` prefix) and their mean."""
    def get(name: str) -> float:
        for k in (f"f1_{name}", f"val_f1_{name}"):
            if k in scores:
                return float(scores[k])
        raise DataError("AU scores", f"lack f1_{name}", "pass au_scores(...) or a metrics.json dict")

    f1 = np.array([get(n) for n in AU_NAMES])
    fig = _figure(figsize=(8, 3.6))
    ax = fig.subplots()  # type: ignore[attr-defined]
    ax.bar(range(len(AU_NAMES)), f1, color="tab:blue")
    ax.axhline(f1.mean(), color="tab:red", lw=1, ls="--", label=f"mean {f1.mean():.3f}")
    ax.set_xticks(range(len(AU_NAMES)), AU_NAMES, rotation=45, ha="right")
    for i, v in enumerate(f1):
        ax.text(i, v + 0.01, f"{v:.2f}", ha="center", fontsize=7)
    ax.set(ylim=(0, 1.05), ylabel="F1", title=f"{title}: per-AU F1")
    ax.legend(loc="upper right", fontsize=8)
    atomic_savefig(fig, path)
