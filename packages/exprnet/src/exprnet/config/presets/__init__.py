"""Presets: YAML configs shipped with the package (one per row of the paper's Tables 1, 3 and 4,
and the demos).

A preset is a partial config (``data.features``, ``model``, ``train`` ...); ``--store``,
``--labels`` and ``--out`` still come from the command line. ``extends: BASE`` layers a preset
over a base file (names starting with ``_`` are bases: loadable, not listed). See docs/reproduce.md.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import yaml

from ...errors import ConfigError
from ..layers import build_config, deep_merge


def _files() -> dict[str, Any]:
    root = resources.files(__name__)
    return {p.name[: -len(".yaml")]: p for p in root.iterdir() if p.name.endswith(".yaml")}


def preset_names() -> list[str]:
    return sorted(n for n in _files() if not n.startswith("_"))


def load_preset(name: str, _seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """The preset's config layer, with its ``extends`` chain merged in."""
    files = _files()
    if name not in files:
        close = [n for n in preset_names() if name.lower() in n.lower()][:6]
        raise ConfigError(f"--preset {name}", "no such preset",
                          f"did you mean {', '.join(close)}?" if close else "`exprnet presets` lists them")
    if name in _seen:
        raise ConfigError(f"preset {name}", f"extends itself ({' -> '.join((*_seen, name))})")
    data = yaml.safe_load(files[name].read_text())
    if not isinstance(data, dict):
        raise ConfigError(f"preset {name}", "is not a mapping")
    base = data.pop("extends", None)
    return deep_merge(load_preset(base, (*_seen, name)), data) if base else data


def list_presets() -> list[dict[str, Any]]:
    """Every preset: name, encoder, features, paper ({table, row, f1} or None), the fully resolved
    config (as a run folder records it) and the description."""
    out = []
    for name in preset_names():
        cfg = build_config(load_preset(name), source=f"preset {name}").resolved()
        out.append({"name": name, "encoder": cfg.model.encoder, "features": list(cfg.data.features),
                    "paper": cfg.paper or None, "config": cfg.to_dict(), "description": cfg.description})
    return out
