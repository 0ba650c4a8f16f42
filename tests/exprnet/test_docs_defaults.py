"""docs/exprnet.md's table of config keys states the defaults the code has."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from exprnet.config import RunConfig

DOC = Path(__file__).resolve().parents[2] / "docs" / "exprnet.md"
ROW = re.compile(r"^\| ((?:`[a-z_]+\.[a-z_]+`(?:, )?)+) \| ([^|]+) \|", re.M)


def documented_defaults() -> dict[str, object]:
    """Keys whose documented default is a literal (not 'per encoder', '`segment`' and the like)."""
    out: dict[str, object] = {}
    for m in ROW.finditer(DOC.read_text()):
        keys = re.findall(r"`([a-z_]+\.[a-z_]+)`", m.group(1))
        values = [v.strip().strip("`") for v in m.group(2).split(",")] if len(keys) > 1 else [m.group(2).strip()]
        if len(values) != len(keys):
            continue
        for k, v in zip(keys, values, strict=True):
            v = v.strip("`")
            if " " in v or v in ("—", "segment", "batch_size", "segment/2"):
                continue
            value = yaml.safe_load(v)
            if isinstance(value, str):  # YAML 1.1 reads 1e-3 as a string
                try:
                    value = float(value)
                except ValueError:
                    pass
            out[k] = value
    return out


def test_documented_defaults_are_the_real_ones() -> None:
    real = RunConfig().model_dump()
    docs = documented_defaults()
    assert len(docs) > 25, "the table was not parsed"
    wrong = {k: (v, real[k.split(".")[0]][k.split(".")[1]]) for k, v in docs.items()
             if k.split(".")[0] in real and isinstance(real[k.split(".")[0]], dict)
             and real[k.split(".")[0]][k.split(".")[1]] != v}
    assert not wrong, f"docs/exprnet.md states other defaults (doc, code): {wrong}"
