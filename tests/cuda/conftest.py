"""The tests that need a CUDA GPU (marked ``cuda``): here they skip with the reason; bench/gpu.py
runs them on a GPU (``pytest -m cuda tests/cuda``)."""

from __future__ import annotations

import pytest
import torch

NO_GPU = "no CUDA GPU on this machine: these tests run on a GPU (python bench/gpu.py runs them)"


def pytest_collection_modifyitems(config, items):
    """Every test here is marked ``cuda`` by its module (``pytestmark``); without a GPU it skips."""
    here = __file__.rsplit("/", 1)[0]
    for item in items:
        if str(item.fspath).startswith(here) and not torch.cuda.is_available():
            item.add_marker(pytest.mark.skip(reason=NO_GPU))
