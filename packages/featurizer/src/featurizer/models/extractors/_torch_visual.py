"""What every face-crop extractor shares: preprocessing from the model's config, batching, device
and precision. Imports torch; extractor modules import this inside their factories.

Preprocessing: the uint8 crops are resized on the CPU, as 8-bit images (like timm's and PIL's
eval transforms; bilinear/bicubic interpolation of uint8 is not implemented on CUDA), copied to
the device through pinned memory, then normalised there in float32. The model runs under
``torch.inference_mode`` and the extractor's precision (autocast, :mod:`featurizer.models.precision`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ...core.device import is_cuda
from ..precision import inference, rows_of, to_device
from ..registry import Extractor

INTERPOLATIONS = ("bilinear", "bicubic")


@dataclass
class Preprocess:
    """uint8 RGB crops -> normalised float tensor of the model's input size."""

    size: int = 224
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    interpolation: str = "bilinear"

    def describe(self) -> dict[str, Any]:
        return {"size": self.size, "mean": list(self.mean), "std": list(self.std),
                "interpolation": self.interpolation}

    def resize(self, crops: np.ndarray) -> torch.Tensor:
        """(B, H, W, 3) uint8 -> (B, 3, size, size) uint8 on the CPU (a channels_last view).

        Downscaling is antialiased; upscaling is plain interpolation (PIL and OpenCV agree there).
        """
        x = torch.from_numpy(np.ascontiguousarray(crops)).permute(0, 3, 1, 2)  # NHWC memory
        if x.shape[-1] == self.size and x.shape[-2] == self.size:
            return x
        mode = self.interpolation if self.interpolation in INTERPOLATIONS else "bilinear"
        return F.interpolate(x, size=(self.size, self.size), mode=mode, align_corners=False,
                             antialias=x.shape[-1] > self.size)

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 (on any device) -> float32 ``(x / 255 - mean) / std``."""
        mean = torch.tensor(self.mean, dtype=torch.float32, device=x.device).view(1, 3, 1, 1) * 255.0
        inv_std = 1.0 / (torch.tensor(self.std, dtype=torch.float32, device=x.device).view(1, 3, 1, 1) * 255.0)
        return (x.float() - mean) * inv_std

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        """The float32 NCHW numpy input (for runtimes other than torch, e.g. onnxruntime)."""
        return self.normalise(self.resize(crops)).contiguous().numpy()


@dataclass
class TorchFaceExtractor(Extractor):
    """Runs ``model`` on batches of face crops; ``extract_faces`` is the whole interface."""

    model: Any = field(default=None, repr=False)
    device: Any = None
    pre: Preprocess = field(default_factory=Preprocess)
    channels_last: bool = True
    architecture: str = ""
    details: dict[str, Any] = field(default_factory=dict)  # extractor-specific provenance (mae-face's pool)

    def provenance(self) -> dict[str, Any]:
        return {**super().provenance(), "architecture": self.architecture,
                "preprocess": self.pre.describe(), **self.details}

    def preprocess(self, crops: np.ndarray) -> torch.Tensor:
        """Resized as uint8 on the CPU, copied (pinned, asynchronously on CUDA), normalised on the
        device in float32, in the model's memory layout."""
        x = to_device(self.pre.resize(crops), self.device)
        x = self.pre.normalise(x)
        return x.contiguous(memory_format=torch.channels_last if self.channels_last else torch.contiguous_format)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def extract_faces(self, crops: np.ndarray) -> np.ndarray:
        self.note_standin()
        crops = np.asarray(crops)
        if len(crops) == 0:
            return np.zeros((0, self.dim), np.float32)
        out = np.empty((len(crops), self.dim), np.float32)
        bs = max(1, self.batch_size)
        starts = range(0, len(crops), bs)
        with inference(self.device, self.precision):
            inputs = (self.preprocess(crops[b : b + bs]) for b in starts)  # prepared while the last one runs
            for b, y in zip(starts, rows_of(inputs, self.forward, self.device), strict=True):
                out[b : b + len(y)] = y.reshape(len(y), -1)
        return out


def default_batch_size(device: Any, cpu: int, cuda: int) -> int:
    return cuda if is_cuda(device) else cpu


@dataclass
class HeadedFaceExtractor(TorchFaceExtractor):
    """A backbone with a classifier ``head``: rows are the backbone's embedding (``output``
    ``features``) or the head's outputs (``scores``, named by ``columns``)."""

    head: Any = field(default=None, repr=False)
    output: str = "features"
    columns: list[str] | None = None

    def provenance(self) -> dict[str, Any]:
        extra = {"columns": self.columns} if self.output == "scores" and self.columns else {}
        return {**super().provenance(), **extra}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.model(x)
        return self.head(f) if self.output == "scores" else f
