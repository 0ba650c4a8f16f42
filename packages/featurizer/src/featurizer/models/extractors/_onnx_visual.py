"""Face-crop models shipped as ONNX graphs, run with onnxruntime.

The embedding is the input of the graph's final ``Gemm`` (the classifier), exposed as an extra
graph output, as EmotiEffLib's own ONNX loader does (it cuts that node); the classifier's output
(the scores) stays available. The graph's input size comes from its declared input shape when
fixed, else from the extractor. ONNX graphs run in the precision they were exported in (fp32);
``--device cuda`` needs onnxruntime's CUDA provider (the ``onnxruntime-gpu`` wheel).

Imports onnx, onnxruntime and torch (preprocessing); extractor modules import this lazily.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import WeightsError
from ..registry import Extractor
from ._torch_visual import Preprocess


@dataclass(frozen=True)
class OnnxGraph:
    """An ONNX classifier graph opened for features: the session and what it outputs."""

    session: Any
    input_name: str
    features: str  # tensor name of the embedding (the final Gemm's input)
    scores: str  # the graph's own output
    feature_dim: int
    n_scores: int
    input_size: int | None  # fixed H (= W) of the input, if declared
    dynamic_batch: bool


def open_graph(path: Path, name: str, source: str, device: Any) -> OnnxGraph:
    """Load ``path``, expose the embedding, and start an onnxruntime session on ``device``."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    from ...core.device import is_cuda

    try:
        model = onnx.load(str(path))
    except Exception as e:  # noqa: BLE001 - a truncated or foreign file
        raise WeightsError(f"{name} weights {source}", f"cannot read the ONNX file ({type(e).__name__}: "
                           f"{str(e).splitlines()[0][:200] if str(e) else ''})") from None
    g = model.graph
    last = g.node[-1] if len(g.node) else None
    if last is None or last.op_type != "Gemm" or len(last.input) < 2 or len(g.output) != 1:
        raise WeightsError(f"{name} weights {source}", "ONNX graph does not end in one classifier (Gemm) "
                           "layer, so its embedding cannot be found",
                           "pass an EmotiEffLib/HSEmotion .onnx file, or the model's state dict")
    inits = {t.name: t for t in g.initializer}
    if last.input[1] not in inits:
        raise WeightsError(f"{name} weights {source}", "the classifier's weights are not stored in the graph")
    w = numpy_helper.to_array(inits[last.input[1]])
    trans_b = next((a.i for a in last.attribute if a.name == "transB"), 0)
    n_scores, feature_dim = (w.shape[0], w.shape[1]) if trans_b else (w.shape[1], w.shape[0])
    g.output.append(helper.make_tensor_value_info(last.input[0], TensorProto.FLOAT, [None, feature_dim]))
    providers = ["CPUExecutionProvider"]
    if is_cuda(device):
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise WeightsError(f"{name} --device {device}", "the installed onnxruntime has no CUDA provider",
                               "pip install onnxruntime-gpu, or run this model with --device cpu")
        providers = [("CUDAExecutionProvider", {"device_id": device.index or 0})] + providers
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), opts, providers=providers)
    inp = session.get_inputs()[0]
    shape = list(inp.shape)
    size = shape[2] if len(shape) == 4 and isinstance(shape[2], int) and shape[2] == shape[3] else None
    return OnnxGraph(session, inp.name, last.input[0], g.output[0].name, int(feature_dim), int(n_scores),
                     size, not isinstance(shape[0], int) if shape else True)


@dataclass
class OnnxFaceExtractor(Extractor):
    """Runs an :class:`OnnxGraph` on batches of face crops; rows are its features or its scores."""

    graph: Any = field(default=None, repr=False)
    output: str = "features"  # or "scores"
    pre: Preprocess = field(default_factory=Preprocess)
    architecture: str = ""
    columns: list[str] | None = None

    def provenance(self) -> dict[str, Any]:
        extra = {"columns": self.columns} if self.columns else {}
        return {**super().provenance(), "architecture": self.architecture, "runtime": "onnxruntime",
                "preprocess": self.pre.describe(), **extra}

    def extract_faces(self, crops: np.ndarray) -> np.ndarray:
        self.note_standin()
        crops = np.asarray(crops)
        out = np.empty((len(crops), self.dim), np.float32)
        g = self.graph
        want = g.features if self.output == "features" else g.scores
        bs = max(1, self.batch_size) if g.dynamic_batch else 1
        for b in range(0, len(crops), bs):
            (y,) = g.session.run([want], {g.input_name: self.pre(crops[b : b + bs])})
            out[b : b + bs] = np.asarray(y, np.float32).reshape(len(y), -1)
        return out
