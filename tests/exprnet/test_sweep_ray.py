"""A small sweep on a local Ray cluster produces its runs and skips them on re-run."""

import json
import os

import pytest
import yaml
from exprnet.training.sweep import run_sweep
from featurizer.core.cluster import start_ray

from .conftest import SMALL_MODEL, SMALL_TRAIN

ray = pytest.importorskip("ray")


def test_ray_sweep_trains_then_skips(small, tmp_path):
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    grid = {"base": {"data": {"store": str(small.store), "labels": str(small.labels),
                              "features": list(small.features)},
                     "model": dict(SMALL_MODEL), "train": {**SMALL_TRAIN, "epochs": 1}},
            "grid": {"encoder": ["lstm", "transformer"]}}
    g = tmp_path / "grid.yaml"
    g.write_text(yaml.safe_dump(grid))
    start_ray(num_cpus=2)
    try:
        rows = run_sweep(g, tmp_path / "runs", executor="ray")
        assert [(r["run"], r["status"]) for r in rows] == [("lstm", "trained"), ("transformer", "trained")]
        assert all((tmp_path / "runs" / r["run"] / "checkpoints" / "best.pt").exists() for r in rows)
        again = run_sweep(g, tmp_path / "runs", executor="ray")
        assert {r["status"] for r in again} == {"skipped (finished)"}
        assert [r["best_val_f1"] for r in again] == [r["best_val_f1"] for r in rows]
    finally:
        ray.shutdown()
    listed = (tmp_path / "runs" / "runs.txt").read_text().split()
    assert listed == [r["path"] for r in rows]
    assert json.loads((tmp_path / "runs" / "sweep.json").read_text())[0]["run"] == "lstm"
