"""openSMILE extractors keep one configured instance per thread and reset it between signals:
every signal's rows equal ``opensmile.Smile.process_signal`` on it (byte for byte), call after
call, in any thread (ComParE's descriptors and their deltas from one two-sink run), and nothing
accumulates across calls."""

from __future__ import annotations

import threading

import numpy as np
import opensmile
import pytest
from featurizer import create_extractor
from featurizer.models.extractors import opensmile_lld


def _signals() -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    t = np.arange(48_000) / 16_000
    voiced = (0.4 * np.sin(2 * np.pi * 180 * t) * (1 + 0.3 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    noise = (0.05 * rng.standard_normal(48_000)).astype(np.float32)
    return [voiced[:19_200], noise[:16_000], (voiced + noise)[:48_000], voiced[:961], noise[:3_200], voiced[:19_200]]


def _direct(wave: np.ndarray, fs: str, levels: tuple[str, ...]) -> np.ndarray:
    parts = [opensmile.Smile(feature_set=opensmile.FeatureSet[fs], feature_level=opensmile.FeatureLevel[lv])
             .process_signal(wave, 16_000).to_numpy(np.float32) for lv in levels]
    n = min(len(p) for p in parts)
    return np.concatenate([p[:n] for p in parts], axis=1)


@pytest.mark.parametrize("name,fs,levels", [
    ("egemaps", "eGeMAPSv02", ("LowLevelDescriptors",)),
    ("compare", "ComParE_2016", ("LowLevelDescriptors", "LowLevelDescriptors_Deltas")),
])
def test_reused_instances_give_process_signals_rows(name, fs, levels):
    ex = create_extractor(name)
    waves = _signals()
    want = [_direct(w, fs, levels) for w in waves]
    got = [r for w in waves for r in ex.extract_audio([w], 16_000)]  # one instance, reset between
    for g, w in zip(got, want, strict=True):
        assert g.dtype == np.float32 and g.shape == w.shape and g.tobytes() == w.tobytes()
    other: list[np.ndarray] = []
    th = threading.Thread(target=lambda: other.extend(ex.extract_audio(waves[:2], 16_000)))
    th.start()
    th.join()
    assert all(g.tobytes() == w.tobytes() for g, w in zip(other, want[:2], strict=True))
    mine = opensmile_lld._LOCAL.instances
    assert all(len(i.smile._callbacks) == len(i.sinks) for i in mine.values())  # live callbacks only, none piling up
    if len(levels) == 2:  # ComParE's descriptors and deltas: one instance, two sinks
        assert [i.n_features for i in mine.values() if i.n_features[0] == 65] == [[65, 65]]
