"""Presets: YAML configs shipped with the package (the paper's table rows, and ``demo``).

A preset is a partial config (``data.features``, ``model``, ``train`` ...); ``--store``,
``--labels`` and ``--out`` still come from the command line. See docs/reproduce.md.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import yaml

from ..errors import ConfigError


def _files() -> dict[str, Any]:
    root = resources.files(__name__)
    return {p.name[: -len(".yaml")]: p for p in root.iterdir() if p.name.endswith(".yaml")}


def preset_names() -> list[str]:
    return sorted(_files())


def load_preset(name: str) -> dict[str, Any]:
    files = _files()
    if name not in files:
        close = [n for n in sorted(files) if name.lower() in n.lower()][:6]
        raise ConfigError(f"--preset {name}", "no such preset",
                          f"did you mean {', '.join(close)}?" if close else "`exprnet presets` lists them")
    data = yaml.safe_load(files[name].read_text())
    if not isinstance(data, dict):
        raise ConfigError(f"preset {name}", "is not a mapping")
    return data


def list_presets() -> list[dict[str, Any]]:
    out = []
    for name in preset_names():
        p = load_preset(name)
        out.append({"name": name, "encoder": p.get("model", {}).get("encoder", "lstm"),
                    "features": list(p.get("data", {}).get("features", [])),
                    "description": p.get("description", ""), "paper": p.get("paper") or {}})
    return out
