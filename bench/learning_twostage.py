"""Two-stage: the decoder's segment posteriors fed back to `recommended` as an input (issue 25).

Stage 1 is the built-in baseline (logistic regression, per-track standardised) with its
calibration and ``hsmm:auto`` decoder, all fitted on the training tracks exactly as ``exprnet
baseline`` fits them. Its forward-backward class marginals become a feature, ``stage1`` (8 dims:
log marginals), written into the corpus store: on the training tracks from the out-of-fold
probabilities (each track's from a classifier that did not see its source video; the decoder's
chain from every training label sequence), on the validation tracks from the classifier fitted on
every training track. Stage 2 is `recommended` trained on ``visual, audio, stage1``; its rows
go through the same post-processing as every other model (bench/learning_decoding.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from exprnet.baseline.fit import evaluate_baseline, make_builder, track_probs
from exprnet.config import BaselineConfig, build_config
from exprnet.postprocess.choice import apply_all
from exprnet.training.experiment import prepare
from featurizer.core.store import FeatureStore
from learning_decoding import network_models
from learning_runs import base_config

FEATURE = "stage1"


def write_stage1(c: Any, threads: int) -> str:
    """Write (or keep) the ``stage1`` feature in the corpus store; returns what it is."""
    store = FeatureStore(str(c.store), mode="a")
    cfg = build_config(base_config(c, threads), {
        "data": {"normalize": "track"}, "baseline": BaselineConfig(classifier="logreg").model_dump(),
        "smooth": {"kind": "hsmm"}})
    prep = prepare(cfg)
    bank = prep.bank
    fit = evaluate_baseline(cfg, bank, prep.split.train, prep.split.val)
    assert fit.oof is not None
    tids, vids = bank.ids(prep.split.train), bank.ids(prep.split.val)
    val = track_probs(fit.clf, make_builder(cfg, bank, fit.stats), vids)
    probs = {**{i: fit.oof[i] for i in tids}, **val}
    ids = list(probs)
    dec = apply_all(fit.post.processor, [probs[i] for i in ids], fit.post.calibration)
    for i, d in zip(ids, dec, strict=True):
        x = np.log(np.maximum(d.probs, 1e-4)).astype(np.float32)
        store.write_feature(bank.tracks[i], FEATURE, x, np.ones(len(x), bool),
                            {"extractor": "bench-stage1", "modality": "visual", "recipe_version": "stage1-1",
                             "timing": {"kind": "per_frame"}}, dtype="float32")
    what = (f"stage 1: logreg + {fit.post.calibration.describe()} + {fit.post.processor.describe()}; "
            f"val F1 {fit.metrics['best_val_f1']:.4f}")
    print(what, flush=True)
    return what


def twostage_models(c: Any, size: str, seeds: int, threads: int, work: Path, budget: dict[str, int],
                    oof_folds: int) -> list[Any]:
    write_stage1(c, threads)
    models = network_models(c, size, seeds, threads, work, budget,
                            [f"data.features=[visual,audio,{FEATURE}]"], oof_folds)
    for m in models:
        m.name = "two-stage recommended (+ stage-1 hsmm marginals)"
    return models
