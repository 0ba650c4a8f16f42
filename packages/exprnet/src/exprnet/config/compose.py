"""A run's config from its sources, in order: defaults < preset < config file < flags < ``--set``
(what ``exprnet train``, ``cv``, ``baseline`` and :func:`exprnet.train` build their config with);
the readers of those sources (YAML files, ``--set`` items, a run folder's config)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError
from .layers import build_config
from .presets import load_preset
from .schema import RunConfig

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


def parse_set(items: list[str] | None) -> dict[str, Any]:
    """``--set model.dropout=0.1 --set data.features=[mae,hubert]`` -> nested dict (values as YAML)."""
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"--set {item}", "expected KEY=VALUE", "e.g. --set model.dropout=0.1")
        key, raw = item.split("=", 1)
        parts = [p for p in key.strip().split(".") if p]
        if not parts:
            raise ConfigError(f"--set {item}", "empty key")
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError as e:
            raise ConfigError(f"--set {item}", f"value is not valid YAML ({e.__class__.__name__})") from None
        node = out
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {item}", f"{p} is set both as a value and as a section")
        node[parts[-1]] = value
    return out


def read_yaml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text())
    except FileNotFoundError:
        raise ConfigError(str(p), "config file not found") from None
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(str(p), f"cannot read YAML ({e.__class__.__name__}: {e})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(str(p), "top level must be a mapping (data:, model:, train:)")
    return data


def load_run_config(path: str | Path) -> RunConfig:
    return build_config(read_yaml(path), source=str(path))
