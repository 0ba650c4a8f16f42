"""A trained run (network or baseline) applied to stored tracks: ``exprnet predict``.

- :mod:`.predict`: per-frame probabilities per track, the ABAW submission file, F1 with labels.

May import: config, data, models, postprocess, training (the run folder), baseline, reports, errors.
"""
