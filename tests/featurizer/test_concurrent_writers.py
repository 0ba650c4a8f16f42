"""Two `featurizer extract` processes writing one store with the same models: both finish (exit
0), the store equals one writer's, and each says, one line per track, which arrays it left to
the other writer. A third writer (this test) holds one array's lock until both processes say they
wait for it, so that each must find it taken, wait for it, and report it skipped, however their
start-up times differ."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from featurizer import extract
from featurizer.core.locks import StoreLocks
from featurizer.core.store import FeatureStore

from .stores import assert_same_store

QUICK = "fbank,hog"
SLOW = "compare,hog"  # ComParE: half a second a clip, so that the writers run side by side longer
HELD = ("video3_left", "hog")  # a two-face video's track: its other side is written beside it


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    from featurizer.demo import make_demo

    d = tmp_path_factory.mktemp("writers") / "demo"
    make_demo(d, n_videos=8, seconds=1, seed=3, heldout=0)
    return d


def _single(demo: Path, models: str, out: Path) -> Path:
    """One writer's store."""
    rep = extract([demo / "videos"], models, out, labels=demo / "annotations", faces=demo / "cropped_aligned")
    assert rep.ok
    return out


def _start(demo: Path, models: str, out: Path) -> subprocess.Popen:
    args = [str(demo / "videos"), "--labels", str(demo / "annotations"), "--faces", str(demo / "cropped_aligned"),
            "--model", models, "--out", str(out)]
    return subprocess.Popen([sys.executable, "-m", "featurizer.cli", "extract", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "COLUMNS": "250", "OMP_NUM_THREADS": "1"})


def _named(output: str, pattern: str) -> set[tuple[str, str]]:
    """(track, model) of each line `PATTERN` matches (groups: track, comma-separated models)."""
    got = set()
    for track, models in re.findall(pattern, output, re.M):
        got |= {(track, m) for m in models.split(", ")}
    return got


def _left_to_the_other(output: str) -> set[tuple[str, str]]:
    """What the summary's `skipped: TRACK: M1, M2 written by another writer ...` lines name."""
    return _named(output, r"^skipped: (\S+): (.+?) written by another writer")


def _waited_for(output: str) -> set[tuple[str, str]]:
    """What the `note: TRACK: M1, M2 being written by another writer ...; waiting for it` lines name."""
    return _named(output, r"^note: (\S+): (.+?) being written by another writer of the store; waiting for it")


def _arrays(store: Path) -> set[tuple[str, str]]:
    s = FeatureStore(store, mode="r")
    return {(t, m) for t in s.tracks() for m in s.models(t)}


def _race(demo: Path, models: str, single: Path, out: Path,
          hold: tuple[str, str] | None) -> list[set[tuple[str, str]]]:
    """Two writers at once; returns what each reported it left to another writer. With ``hold``,
    this process holds that array's lock until both writers say they wait for it (their first
    pass over the videos done), then writes it as a writer would and lets go."""
    want = _arrays(single)
    lock = None
    if hold is not None:
        lock = StoreLocks(str(out)).lock(*hold)
        lock.acquire()
    procs = [_start(demo, models, out) for _ in range(2)]
    lines: list[list[str]] = [[], []]
    readers = [threading.Thread(target=got.extend, args=(p.stdout,), daemon=True) for p, got in zip(procs, lines, strict=True)]
    for r in readers:
        r.start()
    try:
        if hold is not None:
            deadline = time.time() + 300
            while not all(hold in _waited_for("".join(got)) for got in lines):
                assert time.time() < deadline and all(p.poll() is None for p in procs), lines
                time.sleep(0.05)
            assert want - {hold} <= _arrays(out)  # both are past their first pass: the rest is written
            ref = FeatureStore(single, mode="r").read_feature(*hold)
            FeatureStore(out).write_feature(*hold, ref.values, ref.present, ref.attrs, ref.attrs["dtype"])
            lock.release()
        for p in procs:
            p.wait(timeout=300)
        for r in readers:
            r.join(30)
    finally:
        if lock is not None and lock.is_locked:
            lock.release()
        for p in procs:
            p.kill()
    outputs = ["".join(got) for got in lines]
    for p, text in zip(procs, outputs, strict=True):
        assert p.returncode == 0, text
        assert not re.search(r"^failed|Error", text, re.M), text
    assert_same_store(str(single), str(out))
    left = [_left_to_the_other(text) for text in outputs]
    assert left[0] | left[1] <= want
    assert left[0] & left[1] <= {hold}  # an array is written once: by one of them, or the holder
    for text, skipped in zip(outputs, left, strict=True):
        assert _waited_for(text) <= skipped  # what it waited for, the other wrote (neither failed)
    for text in outputs:  # each such message: one line naming the track and what happened
        for line in text.splitlines():
            if line.startswith(("skipped:", "note:")):
                assert re.match(r"(skipped|note): \S+: .+ (being )?written by another writer", line), line
    return left


def test_two_writers_of_one_store_both_finish(demo: Path, tmp_path: Path):
    single = _single(demo, QUICK, tmp_path / "single.zarr")
    left = _race(demo, QUICK, single, tmp_path / "s.zarr", HELD)
    assert all(HELD in side for side in left), left  # both found it taken, waited, and say so
    assert not list((tmp_path / "s.zarr").rglob("*.partial"))


@pytest.mark.heavy
def test_two_writers_again_and_again(demo: Path, tmp_path: Path):
    """Rounds of two writers alone on a fresh store: whatever the interleaving, both finish, and
    they did share the work (some arrays were left to the other)."""
    single = _single(demo, SLOW, tmp_path / "single.zarr")
    left = [_race(demo, SLOW, single, tmp_path / f"s{k}.zarr", None) for k in range(6)]
    assert any(a or b for a, b in left), left
