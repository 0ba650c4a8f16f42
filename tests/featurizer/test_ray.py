"""Distributed extraction on a local Ray cluster equals local extraction, even when a worker dies."""

import os
import signal
import threading
import time

import numpy as np
import pytest
from featurizer.core.cluster import start_ray
from featurizer.core.store import FeatureStore
from featurizer.executors import JobSpec, RayOptions, run_ray
from featurizer.pipeline import extract
from featurizer.tracks import plan_sources

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def cluster():
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    start_ray(num_cpus=2, runtime_env={"env_vars": {"PYTHONWARNINGS": "ignore"}})
    yield
    ray.shutdown()


def _same(a: str, b: str) -> None:
    sa, sb = FeatureStore(a, mode="r"), FeatureStore(b, mode="r")
    assert sa.tracks() == sb.tracks()
    for t in sa.tracks():
        assert sa.models(t) == sb.models(t) and sa.models(t)
        for m in sa.models(t):
            fa, fb = sa.read_feature(t, m), sb.read_feature(t, m)
            np.testing.assert_array_equal(fa.values, fb.values)
            np.testing.assert_array_equal(fa.present, fb.present)


def test_ray_equals_local_and_survives_a_killed_worker(cluster, media, labelled, tmp_path):
    videos = [media["cfr"], media["twoface"], media["avi"]]
    local = str(tmp_path / "local.zarr")
    extract(videos, "egemaps,fbank,hog", local, labels=labelled["annotations"])
    plans, _ = plan_sources(videos, labelled["annotations"])

    job = JobSpec(["egemaps", "fbank", "hog"], str(tmp_path / "ray.zarr"), None, "float16", False, {}, None, None)
    results = run_ray(plans, job, RayOptions(workers_per_group=1))
    assert sorted((r.track, r.status) for r in results) == [
        ("clip", "done"), ("duo_left", "done"), ("duo_right", "done"), ("video45_3", "done")]
    _same(local, job.store_url)

    # kill the visual worker as soon as the first array lands; its task is retried on a restart
    killed = str(tmp_path / "killed.zarr")
    job2 = JobSpec(**{**job.__dict__, "store_url": killed})
    kills = []

    def on_workers(workers):
        pids = ray.get([w.pid.remote() for w in workers])

        def killer():
            deadline = time.time() + 60
            while time.time() < deadline and not kills:
                if os.path.exists(killed) and any(
                        '"complete": true' in open(os.path.join(d, "zarr.json")).read()
                        for d, _, f in os.walk(killed) if "zarr.json" in f and "features" in d):
                    os.kill(pids[-1], signal.SIGKILL)
                    kills.append(pids[-1])
                time.sleep(0.01)

        threading.Thread(target=killer, daemon=True).start()

    results = run_ray(plans, job2, RayOptions(workers_per_group=1), on_workers=on_workers)
    assert kills, "no worker was killed"
    assert all(r.status == "done" for r in results), [(r.track, r.error) for r in results]
    _same(local, killed)


def test_cli_executor_ray_equals_local(cluster, media, tmp_path):
    from featurizer.cli import app
    from typer.testing import CliRunner

    local, dist = str(tmp_path / "l.zarr"), str(tmp_path / "r.zarr")
    for out, extra in ((local, []), (dist, ["--executor", "ray", "--workers", "1"])):
        r = CliRunner().invoke(app, ["extract", str(media["cfr"]), str(media["noaudio"]), "--model", "fbank,hog",
                                     "--out", out, *extra])
        assert r.exit_code == 0, r.output
        assert "2 track(s) extracted" in r.output
    _same(local, dist)
