"""One person's per-frame predictions in one video, as ``exprnet infer`` and ``exprnet serve`` give them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..tasks.names import AU_NAMES, VA_NAMES


@dataclass
class TrackPrediction:
    """One person's predictions in every frame of one video (numpy arrays; no pandas needed): the
    expression, and valence-arousal and action units when the bundle has those tasks."""

    track: str
    video: str
    frames: np.ndarray  # (n,) 1-based video frame numbers
    time: np.ndarray  # (n,) the frames' presentation times, seconds
    labels: np.ndarray | None  # (n,) class index 0-7 (None: the bundle has no EXPR task)
    probabilities: np.ndarray | None  # (n, 8) rows summing to 1
    face: np.ndarray | None  # (n,) 1 where a face was detected, 0 where filled; None: no visual features
    classes: list[str]
    boxes: np.ndarray | None = None  # (n, 4) x1, y1, x2, y2 in video pixels (NaN: no face), for overlays
    va: np.ndarray | None = None  # (n, 2) valence, arousal in [-1, 1] (None: no VA task)
    au_probs: np.ndarray | None = None  # (n, 12) each AU's probability (None: no AU task)
    au: np.ndarray | None = None  # (n, 12) 0/1: au_probs >= the bundle's threshold of each AU

    @property
    def expression(self) -> list[str]:
        return [] if self.labels is None else [self.classes[i] for i in self.labels]

    def columns(self) -> dict[str, Any]:
        """The CSV's columns by name: ``frame, time, expression, face``, one per class, then
        ``valence, arousal``, ``AU1_prob ... AU26_prob`` and ``AU1 ... AU26`` (0/1) for the
        bundle's tasks (a bundle without EXPR: no ``expression`` nor class columns)."""
        cols: dict[str, Any] = {"frame": self.frames, "time": self.time}
        if self.labels is not None:
            cols["expression"] = self.expression
        cols["face"] = self.face
        if self.probabilities is not None:
            for k, c in enumerate(self.classes):
                cols[c] = self.probabilities[:, k]
        if self.va is not None:
            for k, c in enumerate(VA_NAMES):
                cols[c] = self.va[:, k]
        if self.au_probs is not None and self.au is not None:
            for k, c in enumerate(AU_NAMES):
                cols[f"{c}_prob"] = self.au_probs[:, k]
            for k, c in enumerate(AU_NAMES):
                cols[c] = self.au[:, k]
        return cols

    def to_pandas(self) -> Any:
        """A pandas DataFrame of :meth:`columns` (pandas must be installed)."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("to_pandas() needs pandas (pip install pandas); columns() gives the arrays") from None
        cols = self.columns()
        if cols["face"] is None:
            cols["face"] = np.full(len(self.frames), np.nan)
        return pd.DataFrame(cols)
