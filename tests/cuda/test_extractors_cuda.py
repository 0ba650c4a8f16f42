"""Every deep extractor on the GPU: its weights there, its fp32 rows the CPU's (TF32 convolutions
allowed; models under 150M parameters, the larger ones take too long on the CPU for the device
check), and its ``--precision auto`` rows within the documented bf16 tolerance of fp32's."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from featurizer import create_extractor
from featurizer.models.precision import auto_precision

from tests.featurizer.test_deep_heavy import NAMES

from .placement import devices_of, modules_of
from .tolerance import BF16_TOLERANCE, family

pytestmark = pytest.mark.cuda


def rows(ex) -> np.ndarray:
    rng = np.random.default_rng(0)
    wave = (0.1 * rng.standard_normal(16000 * 3)).astype(np.float32)
    if ex.modality == "visual":
        return ex.extract_faces(rng.integers(0, 255, (6, 112, 112, 3), dtype=np.uint8))
    if ex.timing.kind == "frame_window":
        return ex.extract_windows(wave, 16000, np.array([0.5, 1.5, 2.5]))
    (out,) = ex.extract_audio([wave], 16000)
    return out


def rel(a: np.ndarray, b: np.ndarray) -> float:
    """Largest row-wise relative difference."""
    return float((np.linalg.norm(a - b, axis=1) / np.maximum(np.linalg.norm(a, axis=1), 1e-12)).max())


@pytest.mark.parametrize("name", NAMES)
def test_extractor_on_the_gpu(name):
    gpu = create_extractor(name, weights="random", device="cuda", precision="fp32")
    assert devices_of(gpu) == {"cuda"}, name
    f32 = rows(gpu)
    assert np.isfinite(f32).all()
    theirs = modules_of(gpu)
    if sum(p.numel() for m in theirs.values() for p in m.parameters()) < 150e6:  # the large ones: GPU only
        cpu = create_extractor(name, weights="random", device="cpu", precision="fp32")
        for k, m in modules_of(cpu).items():  # the same random weights on both
            m.load_state_dict(theirs[k].state_dict())
        assert rel(rows(cpu), f32) < 1e-2, name  # TF32 convolutions on the GPU
        del cpu
    gpu.precision = auto_precision(gpu.device)
    low = rows(gpu)
    assert rel(f32, low) <= BF16_TOLERANCE[family(name)], (name, gpu.precision, rel(f32, low))
    del gpu
    torch.cuda.empty_cache()
