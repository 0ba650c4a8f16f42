"""data.normalize: per-track statistics against NumPy, training statistics, raw values."""

import numpy as np
import pytest
from exprnet.data.bank import Standardizer, load_bank
from exprnet.data.batches import BatchBuilder
from featurizer.core.store import FeatureStore

from .synth import open_store, write_feature, write_track


@pytest.fixture
def bank(tmp_path):
    """Three tracks, two features (one float32 beyond float16's range), absent rows, a constant column."""
    rng = np.random.default_rng(0)
    z = open_store(tmp_path / "s.zarr")
    raw = {}
    for t, n in (("a", 50), ("b", 80), ("c", 30)):
        write_track(z, t, n)
        v = rng.normal(3.0, 2.0, (n, 4)) + rng.normal(0, 5, 4)  # per-track offset
        v[:, 3] = 7.0 if t == "a" else v[:, 3]  # constant within track a
        p = rng.random(n) > 0.2
        v[~p] = v[np.flatnonzero(p)[0]]  # rows without a face: a filled copy
        w = rng.normal(0, 1, (n, 2)) * 1e5 + 2e5  # needs float32 (and the bank's offset/scale)
        write_feature(z, t, "vis", v, p)
        write_feature(z, t, "big", w, dtype="float32", modality="audio")
        raw[t] = (v, p, w)
    return load_bank(FeatureStore(tmp_path / "s.zarr", mode="r"), ["vis", "big"], ["a", "b", "c"]), raw


def test_track_normalisation_uses_each_tracks_present_rows(bank):
    bank, raw = bank
    stats = Standardizer.fit(bank, [0, 1])
    b = BatchBuilder(bank, stats, 8, normalize="track")
    for i, t in enumerate(("a", "b", "c")):
        v, p, w = raw[t]
        v16 = v.astype(np.float16).astype(np.float64)
        m, s = v16[p].mean(0), v16[p].std(0)
        if t == "a":  # the constant column keeps the training std
            s[3] = stats.std[3]
        want = np.concatenate([(v16 - m) / s, (w - w.mean(0)) / w.std(0)], axis=1)
        got = b.inputs(i)
        np.testing.assert_allclose(got, want, atol=2e-2, rtol=2e-2)
        assert abs(got[p.nonzero()[0], :3].mean(0)).max() < 1e-4  # exactly centred on present rows


def test_train_and_none_modes(bank):
    bank, raw = bank
    stats = Standardizer.fit(bank, [0, 1])
    train = BatchBuilder(bank, stats, 8, normalize="train")
    none = BatchBuilder(bank, stats, 8, normalize="none")
    v, p, w = raw["c"]
    v16 = v.astype(np.float16).astype(np.float64)
    np.testing.assert_allclose(train.inputs(2, slice(0, 30))[:, :4], (v16 - stats.mean[:4]) / stats.std[:4], atol=1e-3)
    np.testing.assert_allclose(none.inputs(2, slice(0, 30))[:, :4], v16, atol=1e-3)
    np.testing.assert_allclose(none.inputs(2, slice(0, 30))[:, 4:], w, atol=1e-3 * np.ptp(w))  # float16 steps
    # the batch path and the row path agree
    from exprnet.data.segments import Segment

    batch = train.build([Segment(2, 5, 8, False)])
    np.testing.assert_allclose(batch.x[0].numpy(), train.inputs(2, slice(5, 13)), atol=0)


def test_set_track_affine_replaces_one_tracks_moments_and_only_in_track_mode(bank):
    bank, _ = bank
    stats = Standardizer.fit(bank, [0, 1])
    b = BatchBuilder(bank, stats, 8, normalize="track")
    before = [tuple(a.copy() for a in b.norm.affine(i)) for i in range(3)]
    inv, shift = np.full(bank.dim, 2.0), np.full(bank.dim, -1.0)  # float64 in: kept as float32
    b.norm.set_track_affine(1, (inv, shift))
    got = b.norm.affine(1)
    assert got[0].dtype == got[1].dtype == np.float32
    np.testing.assert_array_equal(got[0], inv)
    np.testing.assert_array_equal(got[1], shift)
    for i in (0, 2):  # the other tracks keep theirs
        np.testing.assert_array_equal(b.norm.affine(i)[0], before[i][0])
    train = BatchBuilder(bank, stats, 8, normalize="train")
    with pytest.raises(ValueError, match="only 'track' normalisation") as e:
        train.norm.set_track_affine(0, (inv, shift))
    assert "\n" not in str(e.value)
