"""What happens to per-frame probabilities after a model: calibration, smoothing or decoding.

- :mod:`.processor`: the contract (``Decoded``, ``register``, ``processor_from_dict``): every
  stage is a processor that saves to a dict and loads back, so a chain is a list of dicts;
- :mod:`.calibration`: temperature scaling (optionally per-class biases), ECE;
- :mod:`.smoothing`: box, gauss, median within each track;
- :mod:`.chain`: the training labels' class chain (transitions, runs, shares);
- :mod:`.priors`: the class prior a model was trained towards, the decoders' emissions;
- :mod:`.hmm`: ``viterbi``, a first-order HMM fitted on training label sequences;
- :mod:`.hmm_inference`: its exact Viterbi paths and forward-backward marginals (hmmlearn's
  compiled recursions on given emissions);
- :mod:`.hsmm`: ``hsmm``, explicit segment durations;
- :mod:`.decoding`: the ``--smooth`` vocabulary, and decoders' ``auto`` by cross-validation over
  training source videos;
- :mod:`.choice`: a run's chain fitted on training tracks, replayed, applied.

May import: config, data (the bank, splits), reports (metrics, progress), errors. Never the
validation labels: a parameter is fixed or fitted on training tracks.
"""

from . import calibration, hmm, hsmm, smoothing  # noqa: F401, E402  (register their kinds with processor_from_dict)
