"""The paths a GPU takes that the CPU hides: copies through pinned memory overlapped with the next
batch, the whole extraction on CUDA (faces detected there too), no silent CPU fallback."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from featurizer import extract
from featurizer.core.device import CpuFallbackWarning
from featurizer.core.store import FeatureStore
from featurizer.faces.detect import RetinaFaceDetector
from featurizer.models.precision import rows_of, to_device

from tests.featurizer.conftest_deep import *  # noqa: F403
from tests.featurizer.face_clips import photo

pytestmark = pytest.mark.cuda


def test_copies_are_pinned_and_rows_come_back_in_order():
    dev = torch.device("cuda")
    x = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    y = to_device(x, dev)
    assert y.device.type == "cuda" and torch.equal(y.cpu(), x)
    w = torch.randn(4, 5, device=dev)
    batches = [torch.randn(7, 4) for _ in range(5)]
    got = list(rows_of((to_device(b, dev) for b in batches), lambda t: t @ w, dev))
    want = [(b.to(dev) @ w).cpu().numpy() for b in batches]
    assert len(got) == len(want)
    for g, h in zip(got, want, strict=True):
        np.testing.assert_allclose(g, h, rtol=1e-3, atol=1e-3)


def test_retinaface_detects_on_the_gpu_as_on_the_cpu():
    with warnings.catch_warnings():
        warnings.simplefilter("error", CpuFallbackWarning)
        gpu = RetinaFaceDetector(device="cuda")
    assert gpu.runtime in ("torch cuda", "torch cuda:0", "onnxruntime cuda", "onnxruntime cuda:0"), gpu.runtime
    cpu = RetinaFaceDetector()
    frames = [photo("astronaut"), photo("astronaut")[:, ::-1].copy()]
    for a, b in zip(cpu.detect(frames), gpu.detect(frames), strict=True):
        assert len(a) == len(b) == 1
        np.testing.assert_allclose(b.landmarks, a.landmarks, atol=0.5)


def test_extraction_on_cuda_matches_the_cpu(timm_dirs, tmp_path):
    """Faces detected and a deep model run on the GPU, through the whole pipeline (two real-face
    clips), with no fallback; rows as on the CPU."""
    from featurizer.demo import encode_video

    from tests.featurizer.face_clips import talking_head

    for i, who in enumerate(("astronaut", "hopper")):
        encode_video(tmp_path / "videos" / f"v{i}.mp4", talking_head(40, who).frames, 25)
    w = {"densenet": str(timm_dirs["densenet"])}
    with warnings.catch_warnings():
        warnings.simplefilter("error", CpuFallbackWarning)
        gpu = extract([tmp_path / "videos"], "densenet", tmp_path / "gpu.zarr", weights=w, device="cuda",
                      precision="fp32")
    cpu = extract([tmp_path / "videos"], "densenet", tmp_path / "cpu.zarr", weights=w, device="cpu",
                  precision="fp32")
    assert gpu.ok and cpu.ok
    a, b = FeatureStore(tmp_path / "cpu.zarr", mode="r"), FeatureStore(tmp_path / "gpu.zarr", mode="r")
    for t in a.tracks():
        x, y = a.read_feature(t, "densenet"), b.read_feature(t, "densenet")
        assert x.present.mean() > 0.9  # the faces were found
        np.testing.assert_array_equal(x.present, y.present)
        np.testing.assert_allclose(y.values, x.values, rtol=0.02, atol=0.02)  # float16 rows, TF32 convs
