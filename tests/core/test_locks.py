"""Writers of one local store take turns on each array (featurizer.core.locks): where the lock
files live, what a writer does with an array another holds or completed, and several processes
writing the same arrays of one store at once."""

from __future__ import annotations

import multiprocessing as mp
import threading
import warnings
from pathlib import Path

import numpy as np
import zarr
from featurizer.core.locks import StoreLocks, claim
from featurizer.core.store import FeatureStore


def _store(url) -> FeatureStore:
    s = FeatureStore(url)
    s.write_timeline("t", np.arange(4) / 25, np.ones(4, bool))
    return s


def _write(s: FeatureStore, model: str, value: float = 1.0) -> None:
    s.write_feature("t", model, np.full((4, 2), value), np.ones(4, bool), {"extractor": model})


def test_lock_files_live_beside_the_store_and_no_reader_sees_them(tmp_path):
    s = _store(tmp_path / "s.zarr")
    _write(s, "m")
    assert sorted(p.name for p in (tmp_path / ".s.zarr.locks" / "t").iterdir()) == [".timeline.lock", "m.lock"]
    assert sorted(p.name for p in (tmp_path / "s.zarr").iterdir()) == ["tracks", "zarr.json"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # zarr warns of any folder it cannot place in the hierarchy
        assert list(zarr.open_group(tmp_path / "s.zarr", mode="r").members(max_depth=None))
    # the same folder whatever path names the store
    (tmp_path / "link.zarr").symlink_to(tmp_path / "s.zarr")
    assert StoreLocks(str(tmp_path / "link.zarr")).folder == StoreLocks(f"file://{tmp_path}/s.zarr").folder
    assert StoreLocks("memory://x/s.zarr").lock("t", "m") is None  # remote: not coordinated


def test_locks_go_inside_the_store_where_its_folder_cannot_be_written(tmp_path, monkeypatch):
    real_mkdir = Path.mkdir

    def refuse(self, *a, **kw):
        if self.name.endswith(".locks") and self.name.startswith("."):
            raise PermissionError(13, "Permission denied", str(self))
        return real_mkdir(self, *a, **kw)

    monkeypatch.setattr(Path, "mkdir", refuse)
    assert StoreLocks(str(tmp_path / "s.zarr")).folder == tmp_path / "s.zarr" / ".locks"


def _holding(path: Path, go: threading.Event, finish: threading.Event) -> None:
    """Another writer (a thread of its own): holds t/a, and completes it once told to."""
    with StoreLocks(str(path)).held("t", "a"):
        go.set()
        finish.wait(30)
        _write(FeatureStore(path), "a")


def test_an_array_another_writer_holds_is_left_then_waited_for(tmp_path):
    s = _store(tmp_path / "s.zarr")
    go, finish = threading.Event(), threading.Event()
    other = threading.Thread(target=_holding, args=(tmp_path / "s.zarr", go, finish))
    other.start()
    go.wait(30)
    todo = {"t": ["b", "a"]}
    with claim(s.locks, todo, s.is_complete, wait=False, recheck=True) as got:
        assert got.mine == {"t": ["b"]} and got.busy == {"t": ["a"]} and not got.theirs
    # it completes the array, then lets go: a writer that waited skips it, even one overwriting
    threading.Timer(0.3, finish.set).start()
    with claim(s.locks, {"t": ["a"]}, s.is_complete, wait=True, recheck=False) as got:
        assert got.theirs == {"t": ["a"]} and not got.mine and not got.busy
    other.join()
    # nobody holds it now: overwriting takes it although it is complete; otherwise it is skipped
    with claim(s.locks, {"t": ["a"]}, s.is_complete, wait=False, recheck=False) as got:
        assert got.mine == {"t": ["a"]}
    with claim(s.locks, {"t": ["a"]}, s.is_complete, wait=False, recheck=True) as got:
        assert got.theirs == {"t": ["a"]}


def test_a_claimed_array_is_written_by_its_holder_and_no_one_else(tmp_path):
    """write_feature takes the lock its own claim holds (same thread) but waits for another's."""
    s = _store(tmp_path / "s.zarr")
    order = []
    with claim(s.locks, {"t": ["a"]}, s.is_complete, wait=False, recheck=True) as got:
        assert got.mine == {"t": ["a"]}
        writer = threading.Thread(target=lambda: (_write(FeatureStore(tmp_path / "s.zarr"), "a", 2.0),
                                                  order.append("other")))
        writer.start()
        _write(s, "a", 1.0)
        writer.join(0.5)
        order.append("mine")
    writer.join(30)
    assert order == ["mine", "other"]
    assert s.read_feature("t", "a").values[0, 0] == 2.0


def _same_arrays(url: str, start) -> None:
    start.wait()
    s = FeatureStore(url)
    for i in range(20):
        ts = np.arange(30 + i) / 25.0
        s.write_timeline(f"t{i}", ts, np.ones(len(ts), bool), {"fps": 25.0})
        for m in ("a", "b"):
            s.write_feature(f"t{i}", m, np.full((len(ts), 3), i, np.float32), np.ones(len(ts), bool),
                            {"extractor": m})


def test_processes_writing_the_same_arrays_at_once_all_finish(tmp_path):
    """Three processes create one store and write the same arrays (the probe's two `featurizer
    extract`, at the store's level): none fails, and the store holds each array once, whole."""
    ctx = mp.get_context("spawn")
    url = str(tmp_path / "s.zarr")
    start = ctx.Event()
    procs = [ctx.Process(target=_same_arrays, args=(url, start)) for _ in range(3)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    s = FeatureStore(url, mode="r")
    assert s.tracks() == sorted(f"t{i}" for i in range(20))
    for i in range(20):
        assert s.models(f"t{i}") == ["a", "b"]
        np.testing.assert_array_equal(s.timestamps(f"t{i}"), np.arange(30 + i) / 25.0)
        np.testing.assert_array_equal(s.read_feature(f"t{i}", "b").values, np.full((30 + i, 3), i, np.float16))


def test_threads_writing_the_same_arrays_of_a_remote_store_all_finish(tmp_path):
    """memory:// (an fsspec store: no lock files): writers tolerate each other's groups and arrays,
    and the last whole write leaves every array complete."""
    url = f"memory://{tmp_path.name}/s.zarr"
    start, errors = threading.Barrier(3), []

    def write() -> None:
        try:
            start.wait()
            s = FeatureStore(url)
            for i in range(10):
                ts = np.arange(30 + i) / 25.0
                s.write_timeline(f"t{i}", ts, np.ones(len(ts), bool))
                s.write_feature(f"t{i}", "a", np.full((len(ts), 3), i, np.float32), np.ones(len(ts), bool),
                                {"extractor": "a"})
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=write) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    s = FeatureStore(url, mode="r")
    for i in range(10):
        np.testing.assert_array_equal(s.read_feature(f"t{i}", "a").values, np.full((30 + i, 3), i, np.float16))
