"""Distributed extraction on a local Ray cluster equals local extraction (and the service), even
when a worker dies."""

import io
import os
import signal
import threading
import time

import numpy as np
import pytest
from featurizer import extract
from featurizer.core.cluster import start_ray
from featurizer.core.store import FeatureStore
from featurizer.extraction.executors.ray import RayExecutor, RayOptions
from featurizer.extraction.job import ExtractJob
from featurizer.extraction.pipeline import run_job

from .stores import assert_same_store

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def cluster():
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    start_ray(num_cpus=2, runtime_env={"env_vars": {"PYTHONWARNINGS": "ignore"}})
    yield
    ray.shutdown()


def test_ray_equals_local_and_survives_a_killed_worker(cluster, media, labelled, tmp_path):
    videos = [media["cfr"], media["twoface"], media["avi"]]
    local = str(tmp_path / "local.zarr")
    extract(videos, "egemaps,fbank,hog", local, labels=labelled["annotations"])

    job = ExtractJob.of(videos, "egemaps,fbank,hog", tmp_path / "ray.zarr", labels=labelled["annotations"])
    rep = run_job(job, RayExecutor(RayOptions(workers_per_group=1)))
    assert sorted((r.track, r.status) for r in rep.results) == [
        ("clip", "done"), ("duo_left", "done"), ("duo_right", "done"), ("video45_3", "done")]
    assert [k for k in rep.problems if "ghost_left" in k]  # checked on the driver, as locally
    assert_same_store(local, job.out, attrs=False)

    # kill the visual worker as soon as the first array lands; its task is retried on a restart
    killed = str(tmp_path / "killed.zarr")
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

    rep = run_job(ExtractJob.of(videos, "egemaps,fbank,hog", killed, labels=labelled["annotations"]),
                  RayExecutor(RayOptions(workers_per_group=1), on_workers=on_workers))
    assert kills, "no worker was killed"
    assert all(r.status == "done" for r in rep.results), [(r.track, r.error) for r in rep.results]
    assert_same_store(local, killed, attrs=False)


def test_cli_executor_ray_equals_local(cluster, media, tmp_path):
    from featurizer.cli import app
    from typer.testing import CliRunner

    local, dist = str(tmp_path / "l.zarr"), str(tmp_path / "r.zarr")
    for out, extra in ((local, []), (dist, ["--executor", "ray", "--workers", "1"])):
        r = CliRunner().invoke(app, ["extract", str(media["cfr"]), str(media["noaudio"]), "--model", "fbank,hog",
                                     "--out", out, *extra])
        assert r.exit_code == 0, r.output
        assert "2 track(s) extracted" in r.output
        assert "silent.mp4: no audio stream" in r.output  # a worker's warning reaches the driver
    assert_same_store(local, dist, attrs=False)


def test_service_equals_ray(cluster, media, tmp_path):
    """The same clip through the HTTP service and through Ray (one job, one function): equal."""
    from fastapi.testclient import TestClient
    from featurizer.service import Settings, create_app

    out = tmp_path / "r.zarr"
    rep = run_job(ExtractJob.of([media["cfr"]], "fbank,hog", out), RayExecutor(RayOptions(workers_per_group=1)))
    assert rep.ok, rep.failed
    store = FeatureStore(str(out), mode="r")
    with TestClient(create_app(Settings(models="fbank,hog", temp_dir=tmp_path / "spool"))) as c:
        r = c.post("/v1/features", files={"file": ("clip.mp4", media["cfr"].read_bytes())},
                   data={"format": "npz"})
    assert r.status_code == 200, r.text
    with np.load(io.BytesIO(r.content), allow_pickle=False) as z:
        np.testing.assert_array_equal(z["timestamps"], store.timestamps("clip"))
        for m in ("fbank", "hog"):
            np.testing.assert_array_equal(z[f"{m}/values"], store.read_feature("clip", m).values)
            np.testing.assert_array_equal(z[f"{m}/present"], store.read_feature("clip", m).present)
