"""What happens to per-frame probabilities after a model: temporal smoothing and its choice.

- :mod:`.smoothing`: the kinds (box, gauss, median) within each track, and a width chosen on
  training tracks;
- :mod:`.processor`: the contract every kind implements (``apply``, ``to_dict``) and the registry
  that rebuilds one from its dict (bundles, metrics.json);
- :mod:`.choice`: which smoothing a run's predictions get (``--smooth``), and the ``smooth:``
  width a training run fits at its end.

May import: config, data (the bank), reports (metrics, progress), errors. Never the validation
labels: a parameter is fixed or chosen on training tracks.
"""

from . import smoothing  # noqa: F401, E402  (registers its kinds with processor_from_dict)
