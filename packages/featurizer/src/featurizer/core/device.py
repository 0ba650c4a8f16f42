"""The one device rule: ``cpu``, ``cuda[:i]`` or ``auto`` (CUDA when available, else CPU).

Imports torch only when called, so the core stays import-light.
"""

from __future__ import annotations

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
