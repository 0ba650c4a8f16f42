"""ABAW's three frame-level tasks: per-task logic on the label arrays of ``featurizer.core``.

Arrays per track: expr ``(n,)`` int 0..7 (-1 unannotated); va ``(n, 2)`` float in [-1, 1]
(NaN rows unannotated); au ``(n, 12)`` int 0/1 (-1 rows unannotated).

- :mod:`.names`: the VA and AU column names;
- :mod:`.metrics`: CCC and the VA score pooled over all annotated frames, AU mean binary F1;
- :mod:`.losses` (torch): masked VA (1 - CCC, optional MSE) and AU (BCE, per-AU positive
  weights) losses and their R-Drop terms;
- :mod:`.registry`: ``TASKS``, one :class:`~.registry.Task` per task;
- :mod:`.baselines`: VA ridge and per-AU balanced logistic regression, out of fold;
- :mod:`.post`: VA smoothing width, AU per-AU thresholds and smoothing, fitted on training tracks;
- :mod:`.combine`: ensembles (VA weighted mean fitted out of fold, AU mean probability);
- :mod:`.submission`: ``submission_va.txt`` and ``submission_au.txt``;
- :mod:`.plots`: VA scatter and time series, per-AU F1 bars.

May import: config, data (splits), postprocess (smoothing), reports, errors. Never the
validation labels for a choice: every fitted parameter comes from training tracks.
"""
