"""One extraction job: what the CLI, the HTTP service and Ray hand to ``pipeline.run_job``.

A job is plain data (picklable, so Ray ships it to its workers): the inputs, the models and the
:class:`~featurizer.models.runtime.Runtime` they are built with, the output store, and where the label
rows come from: an annotation folder, or label counts per track held in memory (the service's
upload), or neither (one row per video frame).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import FeaturizerError
from ..media.decode import DEFAULT_AUDIO_FPS
from ..models.registry import parse_model_list
from ..models.runtime import Runtime

DTYPES = ("float16", "float32")


@dataclass(frozen=True)
class ExtractJob:
    inputs: tuple[str, ...]  # video or audio files, or folders searched recursively
    models: tuple[str, ...]
    out: str  # store: a directory or fsspec URL
    labels: str | None = None  # Aff-Wild2 annotation folder: one row per annotation line
    tracks: Mapping[str, int | None] | None = None  # or in memory: track -> rows (None: per frame)
    faces: str | None = None  # cropped_aligned/ folder; None: detect faces in the video
    detector: str = "retinaface"  # the face detector when faces are detected (see featurizer.faces)
    detect_every: int = 10  # ... run every this many frames, faces followed in between (1: every frame)
    dtype: str = "float16"
    overwrite: bool = False
    audio_fps: float = DEFAULT_AUDIO_FPS  # label rows per second of audio-only inputs
    runtime: Runtime = field(default_factory=Runtime)

    @classmethod
    def of(cls, inputs: list[str | Path] | tuple, models: str | list[str] | tuple, out: str | Path,
           **kw: Any) -> ExtractJob:
        """A job from paths and a model list (``"egemaps,fbank"`` or names), paths as strings."""
        names = tuple(models.split(",")) if isinstance(models, str) else tuple(models)
        for key in ("labels", "faces"):
            if kw.get(key) is not None:
                kw[key] = str(kw[key])
        return cls(tuple(str(i) for i in inputs), names, str(out), **kw)

    def check(self) -> list[str]:
        """The job's own values, against the registry only (nothing loads): returns the models."""
        names = parse_model_list(list(self.models))
        if self.faces is None:
            from ..faces.detect import DETECTORS
            from ..faces.tracker import check_detect_every

            if self.detector not in DETECTORS:
                raise FeaturizerError(f"--detector {self.detector}", "unknown face detector",
                                      f"use one of {', '.join(DETECTORS)}")
            check_detect_every(self.detect_every)
        if self.dtype not in DTYPES:
            raise FeaturizerError(f"--dtype {self.dtype}", "is not float16 or float32")
        if not self.audio_fps > 0:
            raise FeaturizerError(f"--audio-fps {self.audio_fps:g}", "must be above 0")
        if self.labels is not None and self.tracks is not None:
            raise FeaturizerError("labels", "give an annotation folder or label counts, not both")
        self.runtime.check(names)
        return names


def parse_pairs(items: list[str] | None, flag: str, example: str) -> dict[str, str]:
    """``NAME=VALUE`` items (``--weights hubert=./hubert-base``) -> dict."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise FeaturizerError(f"{flag} {item}", "expected NAME=VALUE", f"e.g. {flag} {example}")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def parse_weights(items: list[str] | None) -> dict[str, str]:
    return parse_pairs(items, "--weights", "hubert=./hubert-base")


def parse_options(items: list[str] | None) -> dict[str, dict[str, str]]:
    """``NAME.KEY=VALUE`` items (``--option hubert.max_chunk_seconds=20``) -> {NAME: {KEY: VALUE}}.

    NAME may itself hold dots (``ecapatdnn:1.5.hop=0.3``): KEY is what follows the last one.
    Values stay text here; the registry types them against the extractor's declarations.
    """
    out: dict[str, dict[str, str]] = {}
    for dotted, value in parse_pairs(items, "--option", "hubert.max_chunk_seconds=20").items():
        name, dot, key = dotted.rpartition(".")
        if not dot or not name or not key.isidentifier():
            raise FeaturizerError(f"--option {dotted}={value}", "expected NAME.KEY=VALUE",
                                  "e.g. --option hubert.max_chunk_seconds=20")
        out.setdefault(name, {})[key] = value
    return out
