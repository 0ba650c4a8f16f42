"""The class prior a model's probabilities were trained towards: what a decoder divides them by.

A classifier trained by cross-entropy with class weights ``w_c`` on frames of class shares ``pi_c``
estimates ``q(c|x)`` proportional to ``w_c pi_c p(x|c)``, so ``q(c|x) / (w_c pi_c)`` is proportional
to the likelihood ``p(x|c)`` an HMM needs. Per loss (``loss:`` of the run, counts of its training
frames):

- ``class_weights: balanced`` (``N / (C n_c)``), and every baseline (class-balanced): uniform: the
  division changes nothing;
- ``none``: the training shares ``pi_c``; ``sqrt``: ``sqrt(pi_c)``; 8 numbers: ``w_c pi_c``;
- ``logit_adjust: tau``: the plain logits are a softmax away from ``q`` divided by ``pi_c^tau``,
  so the prior is multiplied by ``pi_c^-tau``;
- ``focal_gamma`` and ``label_smoothing`` only flatten the probabilities (the calibration's
  temperature takes that up); ``train.sampling`` balances what its draw holds, as the weights do.
"""

from __future__ import annotations

import numpy as np

from ..config import RunConfig

FLOOR = 1e-8  # probabilities floored before the log (a class absent from a baseline's training has 0)


def trained_prior(cfg: RunConfig, counts: np.ndarray) -> np.ndarray:
    """(C,) prior, summing to 1, of a run with config ``cfg`` trained on frames with class ``counts``."""
    n = np.asarray(counts, np.float64)
    c = len(n)
    if cfg.baseline is not None:
        return np.full(c, 1.0 / c)
    pi = (n + 1.0) / (n + 1.0).sum()  # a class absent from training still gets a divisor
    cw = cfg.loss.class_weights
    if cw == "balanced":
        prior = np.ones(c)
    elif cw == "none":
        prior = pi.copy()
    elif cw == "sqrt":
        prior = np.sqrt(pi)
    else:
        prior = np.asarray(cw, np.float64) * pi
    if cfg.loss.logit_adjust:
        prior = prior * pi ** -cfg.loss.logit_adjust
    return prior / prior.sum()


def log_emissions(probs: np.ndarray, prior: np.ndarray, weight: float) -> np.ndarray:
    """A decoder's log emissions, ``weight * (log p - log prior)``, (n, C) float64: probabilities
    divided by the prior they were trained towards are proportional to the likelihoods p(x | c)."""
    p = np.maximum(np.asarray(probs, np.float64), FLOOR)
    return weight * (np.log(p) - np.log(prior)[None, :])
