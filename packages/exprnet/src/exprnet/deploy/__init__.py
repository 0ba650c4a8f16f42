"""Deployment: a trained ensemble as a bundle, applied to new videos and served over HTTP.

- :mod:`.recipe`: the feature recipe (how every feature the members read was extracted);
- :mod:`.bundle`: the bundle folder: written, verified and loaded; members -> combination ->
  post-processing on tracks of a store;
- :mod:`.contents`: its files, read without leaving its folder or following a link;
- :mod:`.signing`: who made it (Ed25519 over the manifest; ``--sign``, ``--trusted-keys``, keygen);
- :mod:`.members`: a bundle's members (trained runs), their files; :mod:`.pretrained`: the
  ``pretrained`` member kind (a pretrained classifier's classes mapped onto ABAW's);
- :mod:`.make`: ``exprnet bundle`` (runs -> the ensemble fitted on validation -> a bundle);
- :mod:`.starter`: ``exprnet bundle --pretrained fer`` (the starter bundle: no training data);
- :mod:`.card`: MODEL_CARD.md;
- :mod:`.infer`: ``exprnet infer`` (videos -> faces, the recipe's features -> the bundle -> tables);
- :mod:`.outputs`: the per-track CSV, timeline PNG, submission and overlay video;
- :mod:`.serve`: ``exprnet serve`` (``POST /v1/expressions`` on featurizer's service).
- :mod:`.live`: ``exprnet live`` and the live engine (frames and audio as they arrive; docs/live.md).

The only layer of exprnet that uses featurizer beyond its core, and only through featurizer's
public names (``featurizer.extract`` on a ``featurizer.ModelCache``, its face sources,
``featurizer.service``'s app and clip routes; tests/core/test_import_light.py pins the list):
infer and serve compose featurizer's extraction, face tracking and HTTP app; bundle, make and
card need the core and ``featurizer.describe_model`` alone. May import every other exprnet stage.
"""

from . import pretrained  # noqa: F401, E402 - registers the ``pretrained`` member kind with members
