"""``data.speech_gate: vad``: where the VAD feature says nobody speaks, the other audio features are
fed as whole-feature dropout feeds them (zero, flagged absent); in every input the builder makes,
so training, prediction and baselines gate alike."""

from __future__ import annotations

import numpy as np
import pytest
from exprnet.config import build_config
from exprnet.data.bank import Standardizer, load_bank
from exprnet.data.batches import BatchBuilder
from exprnet.errors import ConfigError
from exprnet.training import experiment
from featurizer.core.store import FeatureStore

from .conftest import config_for
from .synth import make_corpus, open_store, write_feature


@pytest.fixture(scope="module")
def gated(tmp_path_factory):
    """A corpus with ``aud`` (audio), ``vis`` (visual) and a ``vad`` speech probability (audio)
    that is high and low in alternating stretches."""
    c = make_corpus(tmp_path_factory.mktemp("gate"), n_train=4, n_val=2, frames=(120, 160), seed=4,
                    features={"vis": 6, "aud": 4})
    z = open_store(c.store)
    rng = np.random.default_rng(0)
    for track in c.tracks:
        n = FeatureStore(str(c.store), mode="r").n_frames(track)
        speech = (np.arange(n) // 17) % 2 == 0
        p = np.where(speech, rng.uniform(0.6, 1.0, n), rng.uniform(0.0, 0.4, n))[:, None]
        write_feature(z, track, "vad", p, modality="audio", dtype="float32")
    c.features["vad"] = 1
    return c


@pytest.mark.parametrize("flags", ["modality", "feature", "none"])
def test_silent_frames_feed_the_other_audio_features_as_dropped(gated, flags):
    feats = ["aud", "vad", "vis"]
    bank = load_bank(FeatureStore(str(gated.store), mode="r"), feats, list(gated.tracks))
    stats = Standardizer.fit(bank, range(len(bank.tracks)))
    plain = BatchBuilder(bank, stats, 8, flags, normalize="train").inputs(0)
    got = BatchBuilder(bank, stats, 8, flags, normalize="train", speech_gate="vad").inputs(0)
    vad = bank.values[bank.rows(0), 4].astype(np.float64) / bank.scale[4] + bank.offset[4]  # as stored
    silent = vad < 0.5
    assert 0.3 < silent.mean() < 0.7
    want = plain.copy()
    want[np.ix_(np.flatnonzero(silent), [0, 1, 2, 3])] = 0.0  # aud's columns: its mean
    if flags == "modality":  # groups sorted by modality: audio (aud, vad), visual
        want[silent, 11] = 0.0
    elif flags == "feature":  # one flag per feature: aud's only
        want[silent, 11] = 0.0
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got[:, 4:11], plain[:, 4:11])  # the gate itself and vis: untouched


def test_the_gate_must_be_one_of_the_features(gated):
    with pytest.raises(ConfigError, match="speech_gate 'vad' must be one of data.features"):
        build_config({"data": {"features": ["aud", "vis"], "speech_gate": "vad"}})
    bank = load_bank(FeatureStore(str(gated.store), mode="r"), ["aud", "vis"], list(gated.tracks))
    stats = Standardizer.fit(bank, range(len(bank.tracks)))
    with pytest.raises(Exception, match="vis.*has 6 columns"):
        BatchBuilder(bank, stats, 8, "none", speech_gate="vis")


def test_a_gated_run_trains_and_predicts(gated, tmp_path):
    from exprnet.prediction.predict import predict

    cfg = config_for(gated, "bilstm", data={"speech_gate": "vad", "present_flags": "modality"},
                     train={"epochs": 1})
    res = experiment.train(cfg, tmp_path / "run")
    assert np.isfinite(res.best_val_f1)
    out = predict(tmp_path / "run", str(gated.store), "val0,val1", tmp_path / "pred")
    assert out is not None and any((tmp_path / "pred").iterdir())
