"""What a loaded extractor is: its rows' timing, its interface and its provenance.

Registered through :mod:`featurizer.models.registry`; extractor modules subclass :class:`Extractor`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

Modality = Literal["audio", "visual"]
# What default weights were trained on: ImageNet; other natural/web images (DINOv2's LVD-142M,
# CLIP's image-text pairs); faces (recognition or self-supervised); affect (expression, emotion
# or action-unit labels); speech; general audio.
TrainedOn = Literal["imagenet", "images", "faces", "affect", "speech", "audio"]
# What an extractor's weights were in a run (provenance ``weights_kind``): none (a handcrafted
# feature); public (the extractor's own public default); imagenet-standin / public-standin (the
# default stands in for the paper's unpublished weights: an ImageNet model, or a public model of
# the same kind but another checkpoint); user (weights the user passed); random (benchmarks).
WeightsKind = Literal["none", "public", "imagenet-standin", "public-standin", "user", "random"]
STANDIN_KINDS = ("imagenet-standin", "public-standin")


@dataclass(frozen=True)
class Timing:
    """Where an extractor's rows sit in time.

    ``kind``:
      - ``"hop"``: audio rows every ``hop`` seconds, row k centred at ``offset + k * hop``
        relative to the start of the audio it was given; ``window`` is the analysis window.
      - ``"frame_window"``: audio; one row per label frame: the embedding of a ``window``-second
        window around it (computed on a grid every ``hop`` seconds and interpolated or held, as
        the extractor documents; ``offset``: the first window's centre, if the grid is fixed).
      - ``"per_frame"``: visual; one row per face crop, i.e. per label frame.
    """

    kind: Literal["hop", "frame_window", "per_frame"]
    hop: float | None = None
    window: float | None = None
    offset: float | None = None

    def centres(self, n_rows: int) -> np.ndarray:
        """Centres (seconds from audio start) of ``n_rows`` rows of a ``hop`` extractor."""
        if self.kind != "hop":
            raise ValueError(f"timing kind {self.kind!r} has no fixed row grid")
        return self.offset + self.hop * np.arange(n_rows, dtype=np.float64)

    def describe(self) -> str:
        if self.kind == "hop":
            return f"hop {self.hop * 1000:g} ms, window {self.window * 1000:g} ms"
        if self.kind == "frame_window":
            grid = f", grid {self.hop * 1000:g} ms" if self.hop else ""
            return f"window {self.window:g} s per frame{grid}"
        return "per frame"

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass
class Extractor:
    """A loaded extractor. Audio ones implement ``extract_audio``, visual ones ``extract_faces``."""

    name: str
    modality: Modality
    dim: int
    timing: Timing
    recipe_version: str
    weights_id: str | None = None
    weights_sha256: str | None = None
    layer: str | None = None
    batch_size: int = 32
    # Longest audio (seconds) one forward may take; None: the whole track at once.
    max_chunk_seconds: float | None = None
    # Seconds of context on each side of a chunk so its kept rows equal an unchunked run.
    chunk_context_seconds: float = 0.0
    # What the weights are (``WeightsKind``; set by ``create_extractor``) and the precision run in.
    weights_kind: str = "none"
    precision: str = "fp32"
    # One line saying which weights stand in for the paper's (warned once at extraction).
    standin_note: str | None = None

    def extract_audio(self, waves: Sequence[np.ndarray], sample_rate: int) -> list[np.ndarray]:
        """Batch of mono float32 waves -> list of (n_rows_i, dim) float32 (``hop`` timing)."""
        raise NotImplementedError(f"{self.name} is not an audio extractor")

    def extract_windows(
        self, wave: np.ndarray, sample_rate: int, centres: np.ndarray
    ) -> np.ndarray:
        """One mono wave and frame centres (seconds) -> (len(centres), dim) (``frame_window``)."""
        raise NotImplementedError(f"{self.name} does not embed windows")

    def extract_faces(self, crops: np.ndarray) -> np.ndarray:
        """(B, H, W, 3) uint8 RGB face crops -> (B, dim) float32."""
        raise NotImplementedError(f"{self.name} is not a visual extractor")

    def provenance(self) -> dict[str, Any]:
        return {
            "extractor": self.name,
            "modality": self.modality,
            "dim": self.dim,
            "recipe_version": self.recipe_version,
            "weights_id": self.weights_id,
            "weights_sha256": self.weights_sha256,
            "layer": self.layer,
            "timing": self.timing.as_dict(),
            "weights_kind": self.weights_kind,
            "precision": self.precision,
        }

    def note_standin(self) -> None:
        """Warn once per extractor that its weights stand in for the paper's (``standin_note``,
        set by ``create_extractor`` for the stand-in weights kinds)."""
        if self.standin_note and not getattr(self, "_standin_noted", False):
            self._standin_noted = True
            warnings.warn(self.standin_note, UserWarning, stacklevel=2)
