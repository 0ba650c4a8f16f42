"""Config layers merged into a :class:`~.schema.RunConfig`: later layers win, nested mappings merge
key by key (``paper`` is replaced whole), and a validation error names every offending key on one line."""

from __future__ import annotations

import copy
from typing import Any

from pydantic import ValidationError

from ..errors import ConfigError
from .schema import RunConfig


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict) and k != "paper":
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def build_config(*layers: dict[str, Any], source: str = "config") -> RunConfig:
    """Merge layers left to right (later wins) and validate; errors name the offending key."""
    merged: dict[str, Any] = {}
    for layer in layers:
        merged = deep_merge(merged, layer or {})
    try:
        return RunConfig.model_validate(merged)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(x) for x in err['loc']) or '(top)'}: {err['msg']}" for err in e.errors()
        )
        raise ConfigError(source, problems, "see docs/exprnet.md for the config keys") from None
