"""The seed paper (Liu et al., ABAW5 2023): its tables as data and ``exprnet reproduce``.

- :mod:`.tables`: Tables 1-4 (``tables.csv``), one row per model row, fold or vote;
- :mod:`.plan`: which presets, features and stand-ins a table (or ``va``, the authors' VA model) needs;
- :mod:`.reproduce`: train the plan's runs (here or on Ray), its CV and its vote;
- :mod:`.report`: the paper's numbers beside ours, row by row.

The presets themselves are configuration (:mod:`exprnet.config.presets`).
May import: every learning stage (config, data, training, ensemble, reports), errors.
"""
