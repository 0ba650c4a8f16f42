"""Training curves and the confusion matrix as PNG (matplotlib, Agg backend)."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from featurizer.core.files import atomic_write_bytes

from ..config import CLASSES


def atomic_savefig(fig: Any, path: str | os.PathLike, dpi: int = 110) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    atomic_write_bytes(path, buf.getvalue())


def _figure(*args: Any, **kw: Any) -> Any:
    from matplotlib.figure import Figure  # no pyplot: no global figure state, no GUI backend

    return Figure(*args, **kw)


def plot_curves(history: Sequence[dict[str, Any]], path: str | Path) -> None:
    ep = [h["epoch"] for h in history]
    fig = _figure(figsize=(9, 3.6))
    ax1, ax2 = fig.subplots(1, 2)
    ax1.plot(ep, [h["train_loss"] for h in history], "o-", label="loss")
    ax1.plot(ep, [h["train_ce"] for h in history], "s--", label="CE")
    ax1.plot(ep, [h["train_kl"] for h in history], "^:", label="KL")
    ax1.set(xlabel="epoch", title="training loss")
    ax1.legend()
    multi = "val_score" in history[0]  # a multi-task run: its tasks' scores and their mean
    if not multi:
        ax2.plot(ep, [h["train_f1"] for h in history], "o-", label="train (running)")
        ax2.plot(ep, [h["val_f1"] for h in history], "s-", label="validation")
    for key, name in (("val_score", "validation, mean of tasks"), ("val_f1", "EXPR F1"), ("val_va", "VA CCC"),
                      ("val_au_f1", "AU F1")) if multi else ():
        if key in history[0] and np.isfinite(history[0][key]):
            ax2.plot(ep, [h[key] for h in history], "s-" if key == "val_score" else ".--", label=name)
    best = int(np.argmax([h["val_score" if multi else "val_f1"] for h in history]))
    ax2.axvline(ep[best], color="grey", lw=0.8, ls="--")
    ax2.set(xlabel="epoch", ylabel="validation score" if multi else "mean F1 (8 classes)",
            title="validation" if multi else "F1", ylim=(-1 if multi else 0, 1))
    ax2.legend()
    atomic_savefig(fig, path)


def plot_confusion(cm: np.ndarray, path: str | Path, title: str = "validation") -> None:
    cm = np.asarray(cm, dtype=np.float64)
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig = _figure(figsize=(6.4, 5.6))
    ax = fig.subplots()
    im = ax.imshow(norm, vmin=0, vmax=1, cmap="Blues")
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_xticks(range(len(CLASSES)), CLASSES, rotation=45, ha="right")
    ax.set_yticks(range(len(CLASSES)), CLASSES)
    ax.set(xlabel="predicted", ylabel="true", title=f"{title} (row-normalised; counts)")
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, f"{norm[i, j]:.2f}\n{int(cm[i, j])}", ha="center", va="center", fontsize=6.5,
                    color="white" if norm[i, j] > 0.5 else "black")
    atomic_savefig(fig, path)
