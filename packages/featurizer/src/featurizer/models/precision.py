"""How a model runs on its device: precision, inference mode, host-to-device copies, layout.

Which device (``--device cpu|cuda|auto``) is not decided here but by the core's
:func:`~featurizer.core.device.resolve_device`, the one device rule, kept in the core because
exprnet shares it and imports nothing else of featurizer. Precision (``--precision
auto|fp32|bf16|fp16``) is autocast: weights stay float32, matrix products and convolutions run in
the lower precision, norms and reductions in float32; outputs come back as float32. ``auto`` (the
default) is bf16 where the device computes it natively (a CUDA GPU with bf16, a CPU with
AVX512-BF16, AMX or Arm BF16: :func:`~featurizer.core.device.has_native_bf16`), fp32 elsewhere.
CPU: fp32 and bf16. CUDA: fp32, bf16 (where the GPU supports it) and fp16.

Imports torch lazily: the registry and ``featurizer models`` never load it through here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from ..core.device import has_native_bf16, is_cuda
from ..errors import FeaturizerError

__all__ = ["AUTO", "PRECISIONS", "auto_precision", "autocast", "inference", "model_dtype", "prepare_model",
           "resolve_precision", "rows_of", "to_device"]

AUTO = "auto"
PRECISIONS = ("fp32", "bf16", "fp16")


def auto_precision(device: Any, prefer_fp32: bool = False) -> str:
    """What ``--precision auto`` runs in on ``device``: bf16 where it is native, else fp32;
    fp32 for extractors that keep it by choice (``prefer_fp32``)."""
    return "bf16" if not prefer_fp32 and has_native_bf16(device) else "fp32"


def resolve_precision(precision: str | None, device: Any, extractor: str = "",
                      prefer_fp32: bool = False) -> str:
    """The precision to run in: ``precision`` checked against ``device``; None or ``auto``:
    :func:`auto_precision` (``prefer_fp32``: the extractor's auto is fp32)."""
    p = (precision or AUTO).strip().lower()
    if p == AUTO:
        return auto_precision(device, prefer_fp32)
    subject = f"{extractor + ' ' if extractor else ''}--precision {p}"
    if p not in PRECISIONS:
        raise FeaturizerError(subject, "unknown precision", "use auto, fp32, bf16 or fp16")
    if p == "fp16" and not is_cuda(device):
        raise FeaturizerError(subject, "float16 runs on CUDA only", "on CPU use --precision bf16 or fp32")
    if p == "bf16" and is_cuda(device):
        import torch

        if not torch.cuda.is_bf16_supported():
            raise FeaturizerError(subject, "this GPU has no bfloat16 support", "use --precision fp16 or fp32")
    return p


def autocast(device: Any, precision: str) -> Any:
    """``torch.autocast`` to ``precision`` on ``device`` (a no-op context for fp32)."""
    if precision == "fp32":
        return nullcontext()
    import torch

    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(getattr(device, "type", str(device)), dtype=dtype)


@contextmanager
def inference(device: Any, precision: str = "fp32") -> Iterator[None]:
    """``torch.inference_mode`` under :func:`autocast`; on CPU also flush denormals (tiny
    activations otherwise cost 10-100x in some layers); restored afterwards."""
    import torch

    flush = not is_cuda(device)
    if flush:
        torch.set_flush_denormal(True)
    try:
        with torch.inference_mode(), autocast(device, precision):
            yield
    finally:
        if flush:
            torch.set_flush_denormal(False)


def to_device(t: Any, device: Any) -> Any:
    """A host tensor on ``device``: on CUDA through pinned memory with an asynchronous copy (the
    caching host allocator keeps the pinned buffer until the copy is done); elsewhere ``.to``."""
    if t.device == device:
        return t
    if is_cuda(device):
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


def rows_of(batches: Iterable[Any], forward: Callable[[Any], Any], device: Any) -> Iterator[Any]:
    """``forward(x)`` of each of ``batches`` as a float32 numpy array, in order. On CUDA nothing
    waits per batch: each output is copied back into pinned memory asynchronously and handed out
    one batch later, so the CPU prepares the next batch (``batches`` is read lazily: resize, pin,
    queue the copy) while the GPU computes this one. Elsewhere: each output as it comes."""
    if not is_cuda(device):
        for x in batches:
            yield forward(x).float().numpy()
        return
    import torch

    pending = None
    for x in batches:
        y = forward(x).float()
        host = torch.empty(y.shape, dtype=torch.float32, pin_memory=True)
        host.copy_(y, non_blocking=True)
        done = torch.cuda.Event()
        done.record()
        if pending is not None:
            pending[1].synchronize()
            yield pending[0].numpy()
        pending = (host, done)
    if pending is not None:
        pending[1].synchronize()
        yield pending[0].numpy()


def prepare_model(model: Any, device: Any, *, channels_last: bool = False) -> Any:
    """eval(), no gradients, moved to ``device``; channels_last for CNNs. Weights stay float32
    (precision is autocast, :func:`inference`)."""
    import torch

    model = model.eval().to(device)
    for p in model.parameters():
        p.requires_grad_(False)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def model_dtype(model: Any) -> Any:
    import torch

    for p in model.parameters():
        return p.dtype
    return torch.float32
