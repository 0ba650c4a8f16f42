"""Models: what an extractor is and how one is built.

- :mod:`.extractor`: the :class:`~.extractor.Extractor` interface, its timing and provenance;
- :mod:`.options`: typed options an extractor declares;
- :mod:`.registry`: ``@register`` and the specs (timm-style), built-in families and entry points;
- :mod:`.precision`: how a model runs on its device (precision, inference mode, copies);
- :mod:`.runtime`: a run's weights, device, batch size, precision and options, checked then built;
- :mod:`.cache`: extractors loaded once per process and shared (the service, ``exprnet infer``);
- :mod:`.weights`: finding, hashing and loading weights (local files, hub ids, state dicts);
- :mod:`.extractors`: one module per model family; modules starting with ``_`` are their shared
  helpers (architectures, loaders, batching), not families.

May import: :mod:`featurizer.core`, :mod:`featurizer.errors`, :mod:`featurizer.media` (audio
types). Nothing here reads a video or writes a store.
"""
