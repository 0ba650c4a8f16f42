"""exprnet: fused temporal encoders on stored per-frame features; baselines, CV, ensembles, bundles.

Stages, each a subpackage that imports only the ones before it (its docstring says which):
config -> data -> models -> postprocess -> training -> baseline -> prediction -> ensemble ->
paper, with reports (metric, progress, plots) shared by all, deploy (bundles, infer, serve:
the one layer that uses featurizer's extraction) and cli on top.

The Python API (:mod:`exprnet.api`, docs/python.md), loaded on first use so that
``import exprnet`` stays light: :func:`train`, :func:`make_bundle`, :class:`Bundle`
(``Bundle.load(path).predict(video)``), :class:`TrackPrediction`.
"""

from __future__ import annotations

from typing import Any

__version__ = '0.1.0'

_LAZY = {"train": "exprnet.api", "make_bundle": "exprnet.api", "Bundle": "exprnet.deploy.bundle",
         "TrackPrediction": "exprnet.deploy.infer"}
__all__ = ["Bundle", "TrackPrediction", "__version__", "make_bundle", "train"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'exprnet' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
