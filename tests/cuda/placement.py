"""Where a loaded extractor's or network's weights live."""

from __future__ import annotations

from typing import Any

import torch


def modules_of(obj: Any) -> dict[str, torch.nn.Module]:
    """The torch modules an extractor holds (``model``, ``head``, ``encoder``, speechbrain's ``mods``)."""
    out = {}
    for k, v in vars(obj).items():
        if isinstance(v, torch.nn.Module):
            out[k] = v
        elif isinstance(v, dict):
            out.update({f"{k}.{kk}": vv for kk, vv in v.items() if isinstance(vv, torch.nn.Module)})
    return out


def devices_of(obj: Any) -> set[str]:
    """Device types of every parameter and buffer (and tensor attribute, e.g. VGGish's PCA)."""
    found = {t.device.type for m in modules_of(obj).values() for t in [*m.parameters(), *m.buffers()]}
    for v in vars(obj).values():
        for t in v if isinstance(v, tuple) else (v,):
            if isinstance(t, torch.Tensor):
                found.add(t.device.type)
    return found
