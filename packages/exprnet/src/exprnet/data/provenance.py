"""Feature provenance: what a run was trained on, and refusing stores whose features differ.

A feature's identity is the core's :func:`~featurizer.core.identity.feature_identity` of its attrs
(extractor, recipe, weights sha256 or id, weights kind, layer, timing, options, dim); the feature
bank checks that every track agrees. A run records the identities in ``RUN/features.json``;
predicting or ensembling on a store whose features were made differently is refused unless the
user allows it (then it is a warning).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from featurizer.core.identity import describe_identity

from ..errors import DataError, ExprnetWarning
from .bank import FeatureBank


def feature_records(bank: FeatureBank, store: str | None = None) -> dict[str, dict[str, Any]]:
    """feature -> {identity, modality, dim, weights_kind, store}: what a run folder records."""
    out = {}
    for f, modality, dim in zip(bank.features, bank.modalities, bank.dims, strict=True):
        ident = dict(bank.identities.get(f, {}))
        out[f] = {"identity": ident, "modality": modality, "dim": int(dim),
                  "weights_kind": ident.get("weights_kind"), "store": store}
    return out


def describe(record: Mapping[str, Any]) -> str:
    """One line for reports: the identity, and the weights kind (``not recorded`` if unknown)."""
    kind = record.get("weights_kind") or "not recorded"
    return f"{describe_identity(record.get('identity') or {})} (weights kind: {kind})"


def mismatches(recorded: Mapping[str, Mapping[str, Any]], have: Mapping[str, dict]) -> list[str]:
    """Features whose identity in ``have`` differs from the recorded one (each once, in order)."""
    return [f for f, rec in recorded.items() if f in have and dict(have[f]) != dict(rec.get("identity") or {})]


def check_features(recorded: Mapping[str, Mapping[str, Any]] | None, have: Mapping[str, dict], store: str,
                   run: str, allow: bool = False) -> list[str]:
    """Refuse (or, with ``allow``, warn about) features of ``store`` made differently from the run's.

    ``recorded``: the run's ``features.json`` (None for a run made before it existed: not checked).
    Returns the differing features.
    """
    if not recorded:
        return []
    bad = mismatches(recorded, have)
    for f in bad:
        subject = f"{store}: feature {f!r}"
        reason = (f"was made differently from the one run {run} was trained on (store: "
                  f"{describe_identity(have[f])}; run: {describe_identity(recorded[f].get('identity') or {})})")
        if not allow:
            raise DataError(subject, reason, "re-extract it with the run's extractor setup, or pass "
                                             "--allow-feature-mismatch to use it anyway")
        warnings.warn(ExprnetWarning(f"{subject} {reason}; used anyway (--allow-feature-mismatch)"), stacklevel=2)
    return bad
