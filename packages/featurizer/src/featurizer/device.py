"""How a model runs on its device (inference mode, precision, layout); the device rule itself
(``--device cpu|cuda|auto``) is the core's :func:`~featurizer.core.device.resolve_device`.

Imports torch lazily: the registry and ``featurizer models`` never load it through here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .core.device import is_cuda, resolve_device

__all__ = ["inference", "is_cuda", "model_dtype", "prepare_model", "resolve_device"]


@contextmanager
def inference(device: Any) -> Iterator[None]:
    """``torch.inference_mode``; on CPU also flush denormals (tiny activations otherwise cost
    10-100x in some layers); restored afterwards."""
    import torch

    flush = not is_cuda(device)
    if flush:
        torch.set_flush_denormal(True)
    try:
        with torch.inference_mode():
            yield
    finally:
        if flush:
            torch.set_flush_denormal(False)


def prepare_model(model: Any, device: Any, *, half: bool = True, channels_last: bool = False) -> Any:
    """eval(), moved to ``device``; on CUDA half precision where asked; channels_last for CNNs."""
    import torch

    model = model.eval().to(device)
    for p in model.parameters():
        p.requires_grad_(False)
    if is_cuda(device) and half:
        model = model.half()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def model_dtype(model: Any) -> Any:
    import torch

    for p in model.parameters():
        return p.dtype
    return torch.float32
