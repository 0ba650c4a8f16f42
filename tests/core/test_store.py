import numpy as np
import pytest
import zarr
from featurizer.core.errors import FormatError, StoreError
from featurizer.core.identity import describe_identity, feature_identity
from featurizer.core.store import FeatureStore


def _store(url):
    s = FeatureStore(url)
    s.write_timeline("t", np.arange(4) / 25, np.ones(4, bool))
    return s


@pytest.mark.parametrize("kind", ["local", "memory", "file"])
def test_round_trip_on_any_fsspec_url(tmp_path, kind):
    url = {"local": str(tmp_path / "s.zarr"), "memory": f"memory://{tmp_path.name}/s.zarr",
           "file": f"file://{tmp_path}/s.zarr"}[kind]
    s = _store(url)
    v = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    s.write_feature("t", "m", v, np.array([1, 0, 1, 1], bool), {"extractor": "m"})
    f = FeatureStore(url, mode="r").read_feature("t", "m")
    assert f.values.dtype == np.float16
    np.testing.assert_allclose(f.values, v, atol=2e-3)
    assert f.present.tolist() == [True, False, True, True]
    assert f.attrs["n_present"] == 3 and f.attrs["complete"] is True and "created" in f.attrs


def test_incomplete_array_is_ignored_and_rewritten(tmp_path):
    s = _store(tmp_path / "s.zarr")
    g = s.root["tracks"]["t"].require_group("features").create_group("m", attributes={"complete": False})
    g.create_array("values", shape=(4, 3), dtype="float16")
    assert not s.is_complete("t", "m") and s.models("t") == []
    with pytest.raises(StoreError, match="no complete feature array"):
        s.read_feature("t", "m")
    s.write_feature("t", "m", np.ones((4, 3)), np.ones(4, bool), {})
    assert s.is_complete("t", "m")


def test_float16_overflow_is_stored_as_float32(tmp_path):
    s = _store(tmp_path / "s.zarr")
    s.write_feature("t", "big", np.full((4, 2), 1e6), np.ones(4, bool), {})
    f = s.read_feature("t", "big")
    assert f.values.dtype == np.float32 and f.values.max() == 1e6
    assert "float16" in f.attrs["dtype_promoted"]


def test_bad_writes_are_refused(tmp_path):
    s = _store(tmp_path / "s.zarr")
    with pytest.raises(StoreError, match="3 flags for 4 rows"):
        s.write_feature("t", "m", np.ones((4, 2)), np.ones(3, bool), {})
    with pytest.raises(StoreError, match="NaN"):
        s.write_feature("t", "m", np.full((4, 2), np.nan), np.ones(4, bool), {})
    with pytest.raises(StoreError, match="stored timeline has 4 rows"):
        s.write_timeline("t", np.arange(5) / 25, np.ones(5, bool))


def test_not_a_store(tmp_path):
    with pytest.raises(StoreError, match="no feature store"):
        FeatureStore(tmp_path / "missing.zarr", mode="r")
    g = zarr.open_group(str(tmp_path / "other.zarr"), mode="w")
    g.create_array("x", shape=(2,), dtype="i4")
    with pytest.raises(StoreError, match="not a feature store"):
        FeatureStore(tmp_path / "other.zarr")


def test_unknown_format_version_is_refused_by_readers_and_writers(tmp_path):
    _store(tmp_path / "s.zarr")
    g = zarr.open_group(str(tmp_path / "s.zarr"), mode="a")
    g.attrs["format_version"] = 99
    for mode in ("r", "a"):
        with pytest.raises(FormatError, match=r"format_version 99 is not supported.*upgrade"):
            FeatureStore(tmp_path / "s.zarr", mode=mode)


def test_feature_identity_names_how_a_feature_was_made():
    base = {"extractor": "hubert", "recipe_version": "1", "weights_id": "/a/hubert",
            "weights_sha256": "ab" * 32, "layer": "9", "timing": {"kind": "hop", "hop": 0.02},
            "dim": 768, "created": "2026-01-01", "n_present": 3, "package": "featurizer 0.1.0"}
    ident = feature_identity(base)
    # the same weights at another path, made at another time, are the same feature
    assert feature_identity({**base, "weights_id": "/b/hubert", "created": "x", "n_present": 9}) == ident
    assert feature_identity({**base, "weights_sha256": "cd" * 32}) != ident
    assert feature_identity({**base, "layer": "12"}) != ident
    assert feature_identity({**base, "timing": {"kind": "hop", "hop": 0.01}}) != ident
    # rows made in bf16 (--precision auto on a CPU with native bf16) are another feature than
    # fp32's; fp32 is implicit, so identities recorded before precision counted still match
    assert feature_identity({**base, "precision": "fp32"}) == ident
    bf16 = feature_identity({**base, "precision": "bf16"})
    assert bf16 != ident and bf16["precision"] == "bf16"
    assert feature_identity({**base, "precision": "fp16"}) not in (ident, bf16)
    assert "precision=bf16" in describe_identity(bf16)
    # without a checksum, the weights' id is what names them
    no_sum = {k: v for k, v in base.items() if k != "weights_sha256"}
    assert feature_identity(no_sum)["weights_id"] == "/a/hubert"
    # an imported feature's origin is not part of what it is
    imp = {"extractor": "x", "recipe_version": "imported", "weights_id": "/x/a.npy", "dim": 4}
    assert feature_identity(imp) == feature_identity({**imp, "weights_id": "/y/b.h5:t"})
    line = describe_identity(ident)
    assert "\n" not in line and "weights=sha256:abababababab" in line and "layer=9" in line


def _writer(url: str, model: str, n_tracks: int, start) -> None:
    start.wait()
    store = FeatureStore(url)
    for i in range(n_tracks):
        ts = np.arange(50 + i) / 30.0
        store.write_timeline(f"t{i}", ts, np.ones(len(ts), bool), {"fps": 30.0})
        store.write_feature(f"t{i}", model, np.full((len(ts), 3), i, np.float32), np.ones(len(ts), bool),
                            {"extractor": model})


def test_writers_of_the_same_tracks_in_parallel_lose_nothing(tmp_path):
    """Two processes (as Ray's audio and visual workers) create the same tracks at once."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    url, n = str(tmp_path / "s.zarr"), 25
    start = ctx.Event()
    procs = [ctx.Process(target=_writer, args=(url, m, n, start)) for m in ("audio", "visual", "third")]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    s = FeatureStore(url, mode="r")
    assert s.tracks() == sorted(f"t{i}" for i in range(n))
    for i in range(n):
        assert s.models(f"t{i}") == ["audio", "third", "visual"]
        np.testing.assert_array_equal(s.timestamps(f"t{i}"), np.arange(50 + i) / 30.0)
        assert s.read_feature(f"t{i}", "visual").values[0, 0] == i


def test_store_opens_in_xarray_and_tensorstore(tmp_path):
    """Arrays carry Zarr v3 dimension_names: xarray opens a feature group and a track group as
    Datasets (and the whole store as a DataTree); tensorstore, a second Zarr v3 implementation,
    reads the same values with the same labels."""
    import tensorstore as ts
    import xarray as xr

    url = tmp_path / "s.zarr"
    s = FeatureStore(url)
    s.write_timeline("video1", np.arange(6) / 25, np.array([1, 1, 1, 1, 1, 0], bool))
    v = np.random.default_rng(0).standard_normal((6, 3))
    s.write_feature("video1", "hubert:last", v, np.array([1, 0, 1, 1, 1, 0], bool),
                    {"extractor": "hubert:last", "timing": {"kind": "hop", "hop": 0.02}})
    f = s.read_feature("video1", "hubert:last")
    ds = xr.open_zarr(url / "tracks" / "video1" / "features" / "hubert:last", consolidated=False)
    assert ds["values"].dims == ("frame", "feature") and ds["present"].dims == ("frame",)
    np.testing.assert_array_equal(ds["values"].values, f.values)
    np.testing.assert_array_equal(ds["present"].values, f.present)
    assert ds.attrs["extractor"] == "hubert:last" and ds.attrs["complete"] is True
    track = xr.open_zarr(url / "tracks" / "video1", consolidated=False)
    assert track["timestamps"].dims == ("frame",) and track.sizes["frame"] == 6
    rows = ds.assign_coords(time=("frame", track["timestamps"].values))  # rows by presentation time
    np.testing.assert_array_equal(rows["values"].sel(frame=rows.time > 0.1).values, f.values[3:])
    tree = xr.open_datatree(url, engine="zarr", consolidated=False)
    assert tree["tracks/video1/features/hubert:last"]["values"].shape == (6, 3)
    arr = ts.open({"driver": "zarr3", "kvstore": {"driver": "file", "path": str(
        url / "tracks" / "video1" / "features" / "hubert:last" / "values")}}).result()
    assert arr.domain.labels == ("frame", "feature")
    np.testing.assert_array_equal(arr.read().result(), f.values)


def test_store_without_dimension_names_still_reads(tmp_path):
    """Stores written before arrays carried dimension_names read as before (format_version 1)."""
    url = tmp_path / "old.zarr"
    root = zarr.open_group(url, mode="w", attributes={"format": "featurizer-store", "format_version": 1})
    t = root.create_group("tracks").create_group("t")
    t.create_array("timestamps", data=np.arange(4) / 25.0)
    t.create_array("frame_present", data=np.ones(4, bool))
    t.attrs["n_frames"] = 4
    g = t.create_group("features").create_group("m")
    g.create_array("values", data=np.ones((4, 2), np.float16))
    g.create_array("present", data=np.ones(4, bool))
    g.attrs.update({"complete": True, "extractor": "m", "dim": 2})
    assert g["values"].metadata.dimension_names is None
    s = FeatureStore(url, mode="r")
    assert s.models("t") == ["m"] and s.read_feature("t", "m").values.shape == (4, 2)
    s = FeatureStore(url)  # appending to it: an equal timeline is kept, new arrays get names
    s.write_timeline("t", np.arange(4) / 25.0, np.ones(4, bool))
    s.write_feature("t", "n", np.zeros((4, 1)), np.ones(4, bool), {"extractor": "n"})
    assert s.root["tracks/t/features/n/values"].metadata.dimension_names == ("frame", "feature")
    assert s.read_feature("t", "m").values.shape == (4, 2)
