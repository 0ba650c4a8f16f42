"""``--device cpu|cuda|auto`` and how a model runs there (inference mode, precision, layout).

Imports torch lazily: the registry and ``featurizer models`` never load it through here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .errors import FeaturizerError


def resolve_device(device: str | None) -> Any:
    """``None``/``cpu`` -> cpu; ``auto`` -> cuda if available else cpu; ``cuda[:i]`` must exist."""
    import torch

    d = (device or "cpu").strip().lower()
    if d == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if d.startswith("cuda"):
        if not torch.cuda.is_available():
            raise FeaturizerError(f"--device {device}", "CUDA is not available on this machine",
                                  "use --device cpu or --device auto")
        return torch.device(d)
    if d == "cpu":
        return torch.device("cpu")
    raise FeaturizerError(f"--device {device}", "unknown device", "use cpu, cuda or auto")


def is_cuda(device: Any) -> bool:
    return getattr(device, "type", str(device)) == "cuda"


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
