"""Fixtures: synthetic corpora written per docs/store.md, and small run configs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from exprnet.config import RunConfig, build_config

from .synth import Corpus, make_corpus

SMALL_MODEL = {"d_model": 64, "hidden": 64, "layers": 1, "heads": 4, "head": [64], "segment": 32,
               "dropout": 0.1}
SMALL_TRAIN = {"epochs": 3, "batch_size": 16, "lr": 3e-3, "step_size": 100, "device": "cpu", "threads": 1}


def config_for(c: Corpus, encoder: str = "lstm", **over: Any) -> RunConfig:
    base = {"data": {"store": str(c.store), "labels": str(c.labels), "features": list(c.features)},
            "model": {"encoder": encoder, **SMALL_MODEL}, "train": dict(SMALL_TRAIN)}
    return build_config(base, over)


@pytest.fixture(autouse=True, scope="session")
def _baseline_cache(tmp_path_factory):
    """`exprnet train` caches the baseline's score: in a temporary folder, never in ~/.cache."""
    mp = pytest.MonkeyPatch()
    mp.setenv("EXPRNET_CACHE", str(tmp_path_factory.mktemp("exprnet-cache")))
    yield
    mp.undo()


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Corpus:
    """~17k frames: big enough to learn from (the learning test)."""
    return make_corpus(tmp_path_factory.mktemp("corpus"), n_train=20, frames=(600, 900), gain=0.25)


@pytest.fixture(scope="session")
def small(tmp_path_factory) -> Corpus:
    """~1.5k frames: for plumbing tests (resume, CLI, predict)."""
    return make_corpus(tmp_path_factory.mktemp("small"), n_train=6, n_val=2, frames=(120, 220), seed=3)


@pytest.fixture
def tiny(tmp_path: Path) -> Corpus:
    """A fresh corpus per test, to break (bad-input tests)."""
    return make_corpus(tmp_path / "tiny", n_train=4, n_val=2, frames=(40, 70), seed=5)
