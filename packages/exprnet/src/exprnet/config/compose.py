"""A run's config from its sources, in order: defaults < preset < config file < flags < ``--set``
(what ``exprnet train``, ``cv``, ``baseline`` and :func:`exprnet.train` build their config with)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .presets import load_preset
from .schema import RunConfig, build_config, parse_set, read_yaml

# the flags every training command takes, as (section, key) of the config
FLAG_KEYS = {
    "store": ("data", "store"), "labels": ("data", "labels"), "features": ("data", "features"),
    "encoder": ("model", "encoder"), "epochs": ("train", "epochs"), "batch_size": ("train", "batch_size"),
    "lr": ("train", "lr"), "seed": ("train", "seed"), "segment": ("model", "segment"),
    "d_model": ("model", "d_model"), "layers": ("model", "layers"), "heads": ("model", "heads"),
    "hidden": ("model", "hidden"), "device": ("train", "device"), "steps": ("train", "steps"),
}


def make_config(preset: str | None, config: str | Path | None, sets: Sequence[str] | Mapping[str, Any] | None,
                out_dir: str | Path | None, **flags: Any) -> RunConfig:
    """defaults < preset < config file < flags (:data:`FLAG_KEYS`) < sets (``KEY=VALUE`` strings
    as ``--set`` takes them, or a mapping of dotted keys to values)."""
    layers: list[dict[str, Any]] = []
    if preset:
        layers.append(load_preset(preset))
    if config:
        layers.append(read_yaml(config))
    flag_layer: dict[str, Any] = {}
    for k, v in flags.items():
        if v is not None:
            sec, key = FLAG_KEYS[k]
            flag_layer.setdefault(sec, {})[key] = v
    layers += [flag_layer, _dotted(sets) if isinstance(sets, Mapping) else parse_set(list(sets or []))]
    if out_dir and not any("name" in layer for layer in layers):
        layers.insert(0, {"name": Path(out_dir).name})
    return build_config(*layers, source="configuration")


def _dotted(values: Mapping[str, Any]) -> dict[str, Any]:
    """``{"model.dropout": 0.1}`` -> ``{"model": {"dropout": 0.1}}``."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        *parents, last = [p for p in str(key).split(".") if p]
        node = out
        for p in parents:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(str(key), f"{p} is set both as a value and as a section")
        node[last] = value
    return out
