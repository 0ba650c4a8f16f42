"""Stored features to training inputs: the store reader, labels, splits, segments, batches.

- :mod:`.bank`: the float16 feature bank read from the Zarr store (per track, per feature);
- :mod:`.prepare`: the bank, labels and split of a run, loaded once;
- :mod:`.tasks`: which task each ``--labels`` folder holds (EXPR, VA, AU) and their label arrays;
- :mod:`.splits`: the official split, the paper's CV folds, groups of tracks by source video;
- :mod:`.segments`: segment plans (training, streaming, inference windows);
- :mod:`.normalize`, :mod:`.batches`: standardisation and the batch data path;
- :mod:`.provenance`: how each feature was made, and refusing stores whose features differ;
- :mod:`.extraction`: the ``featurizer extract`` command that makes missing features;
- :mod:`.synthetic`: a synthetic feature corpus written straight into a store (benchmarks, tests).

May import: :mod:`exprnet.config`, :mod:`exprnet.reports` (metrics, progress), errors, featurizer's core.
"""
