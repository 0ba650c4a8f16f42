"""Many runs as one prediction: members, their combination, and the honest estimate of it.

- :mod:`.members`: run folders as members, their predictions cached inside them;
- :mod:`.combine`: vote, mean, fitted weights, greedy selection, class biases (on arrays);
- :mod:`.evaluate`: ``exprnet ensemble``: combine on the validation split, cross-validate, write outputs.

May import: config, data, postprocess, training (the run folder), baseline, prediction, reports, errors.
"""
