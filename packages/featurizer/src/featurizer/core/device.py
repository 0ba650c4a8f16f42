"""The one device rule: ``cpu``, ``cuda[:i]`` or ``auto`` (CUDA when available, else CPU); and
what a device computes natively (bfloat16).

Imports torch only when called, so the core stays import-light.
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path
from typing import Any

from .errors import InputError

CHOICES = ("cpu", "cuda", "auto")


def resolve_device(device: str | None, flag: str = "--device") -> Any:
    """``None``/``cpu`` -> cpu; ``auto`` -> cuda if available else cpu; ``cuda[:i]`` must exist."""
    import torch

    d = (device or "cpu").strip().lower()
    if d == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if d == "cpu":
        return torch.device("cpu")
    if d == "cuda" or d.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise InputError(f"{flag} {device}", "CUDA is not available on this machine",
                             f"use {flag} cpu or {flag} auto")
        idx = torch.device(d).index
        if idx is not None and idx >= torch.cuda.device_count():
            raise InputError(f"{flag} {device}", f"this machine has {torch.cuda.device_count()} CUDA device(s)",
                             f"use {flag} cuda:0 .. cuda:{torch.cuda.device_count() - 1}")
        return torch.device(d)
    raise InputError(f"{flag} {device}", "unknown device", "use cpu, cuda, cuda:N or auto")


def is_cuda(device: Any) -> bool:
    return getattr(device, "type", str(device)) == "cuda"


# /proc/cpuinfo flags of native bfloat16 arithmetic: x86 AVX512-BF16 and AMX-BF16 tiles, Arm BF16.
BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU's feature flags (``flags`` on x86, ``Features`` on Arm); empty where unreadable."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            return frozenset(value.split())
    return frozenset()


@functools.cache
def cpu_has_native_bf16() -> bool:
    """This CPU computes bfloat16 natively (AVX512-BF16, AMX or Arm BF16), not by emulation:
    torch's own CPU probe (cpuinfo), else the kernel's flags in /proc/cpuinfo."""
    import torch

    probe = getattr(torch, "cpu", None)
    for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        fn = getattr(probe, name, None)
        if fn is not None and fn():
            return True
    return bool(BF16_CPU_FLAGS & cpu_flags())


def has_native_bf16(device: Any) -> bool:
    """``device`` runs bfloat16 natively: a CUDA GPU with bf16 units (Ampere and later), or a
    CPU with AVX512-BF16, AMX or Arm BF16. Emulated bf16 (older GPUs, AVX2 CPUs) is not."""
    import torch

    if is_cuda(device):
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    if getattr(device, "type", str(device)) == "cpu":
        return cpu_has_native_bf16()
    return False


class CpuFallbackWarning(UserWarning):
    """A stage asked to run on a GPU runs on the CPU instead (never silently)."""


def warn_cpu_fallback(stage: str, reason: str, hint: str) -> None:
    """One line naming the stage that runs on the CPU although a GPU was asked for, why, and
    what to install or pass to keep it on the GPU."""
    warnings.warn(CpuFallbackWarning(f"{stage} runs on the CPU, not the GPU: {reason}; {hint}"), stacklevel=3)
