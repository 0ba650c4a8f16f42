"""exprnet: fused temporal encoders on stored per-frame features; baselines, CV, ensembles.

Stages, each a subpackage that imports only the ones before it (its docstring says which):
config -> data -> models -> postprocess -> training -> baseline -> prediction -> ensemble ->
paper, with reports (metric, progress, plots) shared by all and cli on top.
"""

__version__ = '0.1.0'
