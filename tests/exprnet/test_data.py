import tracemalloc

import numpy as np
import torch
from exprnet.data.bank import Standardizer, load_bank
from exprnet.data.batches import BatchBuilder, Prefetcher
from exprnet.data.segments import stream_plan
from featurizer.core.annotations import find_annotations, read_annotation
from featurizer.core.store import FeatureStore

from .synth import make_corpus, open_store, write_feature, write_labels, write_track


def test_labels_and_splits(small):
    files = find_annotations(small.labels)
    assert set(files) == set(small.tracks)
    for t, f in files.items():
        assert f.split == small.tracks[t]
        np.testing.assert_array_equal(read_annotation(f.path), small.label_arrays[t])


def test_bank_layout_matches_store(small):
    reader = FeatureStore(small.store, mode="r")
    tracks = sorted(small.tracks)
    feats = list(small.features)[::-1]  # the configured order, not the store's
    bank = load_bank(reader, feats, tracks, small.label_arrays)
    assert bank.values.dtype == np.float16 and bank.values.flags["C_CONTIGUOUS"]
    assert bank.dim == sum(small.features[f] for f in feats)
    for i, t in enumerate(tracks):
        r = bank.rows(i)
        col = 0
        for f in feats:
            v, p = (feat := reader.read_feature(t, f)).values, feat.present
            np.testing.assert_array_equal(bank.values[r, col:col + v.shape[1]], v)
            np.testing.assert_array_equal(bank.present[r, feats.index(f)], p)
            col += v.shape[1]
        np.testing.assert_array_equal(bank.labels[r], small.label_arrays[t])


def test_incomplete_feature_groups_are_invisible(tmp_path):
    z = open_store(tmp_path / "s.zarr")
    write_track(z, "a", 10)
    write_feature(z, "a", "vis", np.ones((10, 3)), complete=False)
    reader = FeatureStore(tmp_path / "s.zarr", mode="r")
    assert reader.feature("a", "vis") is None and reader.models("a") == []


def test_standardizer_uses_training_tracks_only(small):
    reader = FeatureStore(small.store, mode="r")
    tracks = sorted(small.tracks)
    bank = load_bank(reader, list(small.features), tracks)
    train = [i for i, t in enumerate(tracks) if small.tracks[t] == "Train_Set"]
    st = Standardizer.fit(bank, train)
    x = np.concatenate([bank.values[bank.rows(i)] for i in train]).astype(np.float64)
    np.testing.assert_allclose(st.mean, x.mean(0), atol=1e-4)
    np.testing.assert_allclose(st.std, x.std(0), rtol=1e-4)
    everything = Standardizer.fit(bank, range(len(tracks)))
    assert not np.allclose(everything.mean, st.mean)


def test_batches_standardise_per_batch_and_mark_padding(small):
    reader = FeatureStore(small.store, mode="r")
    tracks = sorted(small.tracks)
    bank = load_bank(reader, list(small.features), tracks, small.label_arrays)
    st = Standardizer.fit(bank, range(len(tracks)))
    b = BatchBuilder(bank, st, 32, present_flags="modality")
    assert b.input_dim == bank.dim + 2  # audio and visual flags
    plan = stream_plan({i: bank.length(i) for i in range(len(tracks))}, 4, 32)
    seen = 0
    for batch, step in zip(Prefetcher(b, plan, 2), plan, strict=True):
        assert batch.x.dtype == torch.float32 and batch.x.shape == (4, 32, bank.dim + 2)
        for k, s in enumerate(step):
            if s is None:
                assert not batch.mask[k].any()
                continue
            a = int(bank.offsets[s.track]) + s.start
            ref = (bank.values[a:a + s.length].astype(np.float32) - st.mean) / st.std
            np.testing.assert_allclose(batch.x[k, :s.length, :bank.dim].numpy(), ref, atol=1e-5)
            assert (batch.y[k, s.length:] == -1).all() and not batch.mask[k, s.length:].any()
            seen += s.length
    assert seen == bank.n_frames


def test_no_float32_copy_of_the_features(tmp_path):
    """Loading, fitting statistics and batching stay far below a float32 copy's size."""
    c = make_corpus(tmp_path, n_train=14, n_val=2, frames=(1100, 1300), features={"vis": 256, "aud": 128})
    reader = FeatureStore(c.store, mode="r")
    tracks = sorted(c.tracks)
    tracemalloc.start()
    try:
        bank = load_bank(reader, list(c.features), tracks, c.label_arrays)
        _, peak_load = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        held, _ = tracemalloc.get_traced_memory()  # the bank itself
        st = Standardizer.fit(bank, range(len(tracks)), max_elems=1 << 20)
        b = BatchBuilder(bank, st, 64)
        for batch in Prefetcher(b, stream_plan({i: bank.length(i) for i in range(len(tracks))}, 8, 64), 2):
            del batch
        _, peak_after = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    f16 = bank.values.nbytes
    assert peak_load < 1.6 * f16, "loading holds the float16 buffer plus one track at a time"
    assert peak_after - held < 0.5 * f16, "statistics and batches work chunk by chunk"


def test_memmap_bank(small, tmp_path):
    reader = FeatureStore(small.store, mode="r")
    tracks = sorted(small.tracks)
    mem = load_bank(reader, list(small.features), tracks, memmap=tmp_path / "bank.npy")
    ram = load_bank(reader, list(small.features), tracks)
    assert isinstance(mem.values, np.memmap)
    np.testing.assert_array_equal(np.asarray(mem.values), ram.values)


def test_float32_store_values_are_held_as_float16(tmp_path):
    z = open_store(tmp_path / "s.zarr")
    write_track(z, "a", 12)
    write_feature(z, "a", "vis", np.linspace(0, 1, 36).reshape(12, 3), dtype="float32")
    write_labels(tmp_path / "l" / "Train_Set" / "a.txt", np.zeros(12, int))
    bank = load_bank(FeatureStore(tmp_path / "s.zarr", mode="r"), ["vis"], ["a"])
    assert bank.values.dtype == np.float16


def test_wide_range_float32_feature_is_scaled_exactly(tmp_path):
    """Values past float16's range (ComParE energies) are held as raw * 2^-k, standardised in raw units."""
    rng = np.random.default_rng(0)
    z = open_store(tmp_path / "s.zarr")
    raw = {}
    for t, n in (("a", 300), ("b", 200)):
        write_track(z, t, n)
        v = np.c_[rng.normal(5e5, 2e5, n), rng.normal(0, 1, n), rng.normal(-3e6, 1e3, n)]
        write_feature(z, t, "compare", v, dtype="float32")
        raw[t] = v.astype(np.float32)
    bank = load_bank(FeatureStore(tmp_path / "s.zarr", mode="r"), ["compare"], ["a", "b"])
    assert bank.values.dtype == np.float16 and np.isfinite(bank.values).all()
    assert bank.scale[1] == 1.0 and bank.scale[0] < 1 and np.log2(bank.scale[0]).is_integer()
    st = Standardizer.fit(bank, [0, 1])
    allraw = np.concatenate([raw["a"], raw["b"]]).astype(np.float64)
    np.testing.assert_allclose(st.mean, allraw.mean(0), rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(st.std, allraw.std(0), rtol=1e-3)
    batch = BatchBuilder(bank, st, 300).build([stream_plan({0: 300}, 1, 300)[0][0]])
    ref = (raw["a"] - st.mean) / st.std
    np.testing.assert_allclose(batch.x[0].numpy(), ref, atol=0.01)
