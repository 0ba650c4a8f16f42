"""Where face detection runs: RetinaFace's graph under torch (the GPU path where onnxruntime has no
CUDA provider) finds what onnxruntime finds on real photographs; a GPU asked for and not used is a
warning naming the stage, never silent."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from featurizer.core.device import CpuFallbackWarning
from featurizer.faces import load_detector
from featurizer.faces.detect import RetinaFaceDetector
from featurizer.faces.retinaface_runtime import open_runtime

from .face_clips import LANDMARKS, photo


def _frames():
    a = photo("astronaut")
    return [a, np.ascontiguousarray(a[:, ::-1]), np.zeros_like(a)]


def test_torch_graph_finds_what_onnxruntime_finds_on_real_photographs():
    ref, tor = RetinaFaceDetector(), RetinaFaceDetector(runtime="torch")
    assert ref.runtime == "onnxruntime cpu" and tor.runtime == "torch cpu"
    for frames in (_frames(), [photo("hopper")]):
        want, got = ref.detect(frames), tor.detect(frames)
        assert [len(d) for d in got] == [len(d) for d in want]
        for w, g in zip(want, got, strict=True):
            np.testing.assert_allclose(g.boxes, w.boxes, atol=0.05)
            np.testing.assert_allclose(g.landmarks, w.landmarks, atol=0.05)
            np.testing.assert_allclose(g.scores, w.scores, atol=1e-4)
    (h,) = tor.detect([photo("hopper")])
    assert np.abs(h.landmarks[0] - LANDMARKS["hopper"]).max() < 8


def test_raw_graph_outputs_match_onnxruntime_within_1e_4():
    """The converted module against onnxruntime's own run of the same graph (the upstream runtime
    as the oracle), on the batch the detector makes (two sizes)."""
    from featurizer.faces.detect import fit

    run_ort, _ = open_runtime(torch.device("cpu"))
    run_torch, _ = open_runtime(torch.device("cpu"), "torch")
    for size in (640, 320):
        batch, _ = fit(_frames(), size, multiple=32)
        for a, b in zip(run_ort(batch), run_torch(batch), strict=True):
            assert a.shape == b.shape
            assert np.abs(a - b).max() <= 1e-4 * max(1.0, np.abs(a).max())


def test_gpu_without_cuda_provider_or_onnx2torch_warns_and_detects_on_the_cpu(monkeypatch):
    """onnxruntime's CPU wheel has no CUDA provider; with onnx2torch missing too, detection on
    ``cuda`` runs on the CPU with one warning naming the stage and what to install."""
    monkeypatch.setitem(sys.modules, "onnx2torch", None)  # import fails
    with pytest.warns(CpuFallbackWarning, match=r"face detection \(retinaface\) runs on the CPU.*onnx2torch"):
        run, where = open_runtime(torch.device("cuda"))
    assert where == "onnxruntime cpu"
    from featurizer.faces.detect import fit

    boxes, scores, _ = run(fit([photo("astronaut")], 640, multiple=32)[0])
    assert (scores[..., 1] > 0.95).any()


def test_haar_on_a_gpu_warns(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # the device rule lets cuda through
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.warns(CpuFallbackWarning, match=r"face detection \(haar\) runs on the CPU"):
        det = load_detector("haar", device="cuda")
    (found,) = det.detect([photo("astronaut")])
    assert len(found) == 1


def test_unknown_runtime_is_a_one_line_error():
    from featurizer.errors import FaceError

    with pytest.raises(FaceError, match="unknown runtime"):
        open_runtime(torch.device("cpu"), "tensorrt")
