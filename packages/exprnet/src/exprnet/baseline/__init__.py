"""The reference every trained model must beat: a class-balanced per-frame classifier, then smoothing.

- :mod:`.classifier`: the per-frame classifiers (logistic regression, MLP): scikit-learn fits, NumPy predicts;
- :mod:`.fit`: fitting, scoring and the baseline's run folder (``exprnet baseline``);
- :mod:`.cache`: the default baseline's score beside a trained run, computed once per store and split.

May import: config, data, postprocess, training (the run folder, the prepared data), reports, errors.
"""
