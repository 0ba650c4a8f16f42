"""Extractors against their libraries called directly, pooled by hand onto frames."""

import cv2
import numpy as np
import opensmile
import torch
import torchaudio
from featurizer import create_extractor, describe_model, extract, list_models
from featurizer.core.store import FeatureStore
from featurizer.media.decode import load_audio, probe_video


def _hand_pool(rows: np.ndarray, starts: np.ndarray, half_window: float, ts: np.ndarray) -> np.ndarray:
    """Mean of the rows whose centre falls in [t - d/2, t + d/2) with d the constant frame gap."""
    d = ts[1] - ts[0]
    centres = starts + half_window
    us = lambda x: np.round(x * 1e6)  # noqa: E731 - the documented microsecond resolution
    out = np.empty((len(ts), rows.shape[1]))
    for i, t in enumerate(ts):
        sel = (us(centres) >= us(t - d / 2)) & (us(centres) < us(t + d / 2))
        out[i] = rows[sel].mean(0) if sel.any() else rows[np.argmin(np.abs(centres - t))]
    return out


def test_registry_lists_the_embedded_default():
    names = {s.name for s in map(describe_model, list_models())}
    assert {"egemaps", "compare", "fbank", "hog"} <= names
    assert describe_model("compare").dim == 130 and describe_model("egemaps").dim == 25
    assert describe_model("fbank").timing.hop == 0.01


def test_egemaps_equals_opensmile_called_directly(media, tmp_path):
    store = tmp_path / "s.zarr"
    rep = extract([media["cfr"]], "egemaps", str(store), dtype="float32")
    assert rep.ok
    got = FeatureStore(store).read_feature("clip", "egemaps")
    audio = load_audio(media["cfr"])
    ts = probe_video(media["cfr"]).timestamps
    smile = opensmile.Smile(opensmile.FeatureSet.eGeMAPSv02, opensmile.FeatureLevel.LowLevelDescriptors)
    df = smile.process_signal(audio.samples, 16_000)
    starts = df.index.get_level_values("start").total_seconds().to_numpy() + audio.start
    want = _hand_pool(df.to_numpy(np.float64), starts, 0.01, ts)
    assert got.values.shape == (50, 25)
    np.testing.assert_allclose(got.values, want, rtol=1e-4, atol=1e-4)
    assert got.attrs["extractor"] == "egemaps" and got.attrs["timing"]["hop"] == 0.01


def test_declared_opensmile_timing_matches_its_index():
    sig = (np.random.default_rng(0).standard_normal(32000) * 0.1).astype(np.float32)
    for name, fs, level in [("egemaps", opensmile.FeatureSet.eGeMAPSv02, opensmile.FeatureLevel.LowLevelDescriptors),
                            ("compare", opensmile.FeatureSet.ComParE_2016, opensmile.FeatureLevel.LowLevelDescriptors)]:
        df = opensmile.Smile(fs, level).process_signal(sig, 16000)
        start = df.index.get_level_values("start").total_seconds().to_numpy()
        end = df.index.get_level_values("end").total_seconds().to_numpy()
        t = describe_model(name).timing
        k = 100  # away from openSMILE's clipped tail
        np.testing.assert_allclose(t.centres(len(df))[:k], ((start + end) / 2)[:k], atol=1e-9)
        rows = create_extractor(name).extract_audio([sig], 16000)[0]
        assert rows.shape[1] == describe_model(name).dim and abs(len(rows) - len(df)) <= 2


def test_fbank_equals_torchaudio_kaldi():
    sig = (np.random.default_rng(1).standard_normal(16000) * 0.1).astype(np.float32)
    (rows,) = create_extractor("fbank").extract_audio([sig], 16000)
    want = torchaudio.compliance.kaldi.fbank(torch.from_numpy(sig * 32768)[None], num_mel_bins=80,
                                             dither=0.0, sample_frequency=16000).numpy()
    np.testing.assert_allclose(rows, want, rtol=1e-5, atol=1e-4)
    assert len(rows) == 1 + (16000 - 400) // 160


def test_hog_equals_opencv():
    crop = np.random.default_rng(2).integers(0, 255, (1, 112, 112, 3), dtype=np.uint8)
    got = create_extractor("hog").extract_faces(crop)[0]
    grey = cv2.resize(cv2.cvtColor(crop[0], cv2.COLOR_RGB2GRAY), (64, 64), interpolation=cv2.INTER_AREA)
    want = cv2.HOGDescriptor((64, 64), (16, 16), (16, 16), (8, 8), 9).compute(grey).ravel()
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert got.shape == (describe_model("hog").dim,)
