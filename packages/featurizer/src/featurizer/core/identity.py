"""How a stored feature array was made (its identity), and the one line that names it."""

from __future__ import annotations

import json
from typing import Any

# Provenance keys that say how a feature was made; two arrays with equal identities are comparable.
IDENTITY_KEYS = ("extractor", "recipe_version", "weights_kind", "weights_sha256", "weights_id", "layer",
                 "timing", "options", "precision", "dim")
# The precision features were made in before it was part of their identity (and of every
# handcrafted feature): left out of identities, so those recorded before still match.
IMPLICIT_PRECISION = "fp32"


def feature_identity(attrs: dict[str, Any]) -> dict[str, Any]:
    """How a feature array was made: extractor, recipe, weights, layer, timing, options,
    precision (bf16 or fp16 rows are another feature than fp32 ones), dim.

    Weights are named by their sha256 where known (the same file at another path is the same
    weights), else by their id; an imported feature's origin path is not part of its identity;
    precision fp32 is implicit (:data:`IMPLICIT_PRECISION`).
    """
    ident = {k: attrs[k] for k in IDENTITY_KEYS if attrs.get(k) is not None}
    if ident.get("weights_sha256") or ident.get("recipe_version") == "imported":
        ident.pop("weights_id", None)
    if ident.get("precision") == IMPLICIT_PRECISION:
        ident.pop("precision")
    return json.loads(json.dumps(ident, sort_keys=True, default=str))


def describe_identity(ident: dict[str, Any]) -> str:
    """One line: ``extractor=hubert recipe=1 weights=sha256:0a1b2c3d4e5f layer=... dim=768``."""
    parts = []
    for k in IDENTITY_KEYS:
        if k not in ident:
            continue
        v = ident[k]
        if k == "weights_sha256":
            k, v = "weights", f"sha256:{str(v)[:12]}"
        elif isinstance(v, dict):
            v = ",".join(f"{a}={b}" for a, b in sorted(v.items()))
        parts.append(f"{k}={v}")
    return " ".join(parts) or "(no provenance)"
