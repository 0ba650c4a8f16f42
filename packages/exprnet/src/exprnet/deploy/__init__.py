"""Deployment: a trained ensemble as a bundle, applied to new videos and served over HTTP.

- :mod:`.recipe`: the feature recipe (how every feature the members read was extracted);
- :mod:`.bundle`: the bundle folder: written, verified and loaded; members -> combination ->
  post-processing on tracks of a store;
- :mod:`.contents`: its files, read without leaving its folder or following a link;
- :mod:`.signing`: who made it (Ed25519 over the manifest; ``--sign``, ``--trusted-keys``, keygen);
- :mod:`.make`: ``exprnet bundle`` (runs -> the ensemble fitted on validation -> a bundle);
- :mod:`.card`: MODEL_CARD.md;
- :mod:`.infer`: ``exprnet infer`` (videos -> faces, the recipe's features -> the bundle -> tables);
- :mod:`.outputs`: the per-track CSV, timeline PNG, submission and overlay video;
- :mod:`.serve`: ``exprnet serve`` (``POST /v1/expressions`` on featurizer's service).

The only layer of exprnet that uses featurizer beyond its core, and only through featurizer's
public names (``featurizer.extract`` on a ``featurizer.ModelCache``, its face sources,
``featurizer.service``'s app and clip routes; tests/core/test_import_light.py pins the list):
infer and serve compose featurizer's extraction, face tracking and HTTP app; bundle, make and
card need the core and ``featurizer.describe_model`` alone. May import every other exprnet stage.
"""
