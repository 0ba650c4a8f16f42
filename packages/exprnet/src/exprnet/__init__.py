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

from featurizer.core.lazy import lazy_attributes

__version__ = '0.1.0'

_NAMES = {"exprnet.api": ("make_bundle", "train"), "exprnet.deploy.bundle": ("Bundle",),
          "exprnet.deploy.infer": ("TrackPrediction",)}
__all__ = ["Bundle", "TrackPrediction", "__version__", "make_bundle", "train"]
__getattr__, __dir__ = lazy_attributes(__name__, _NAMES, globals())
