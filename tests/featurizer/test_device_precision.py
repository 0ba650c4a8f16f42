"""The device path without a GPU: preprocessing never interpolates uint8 off the CPU, host-to-device
copies go through pinned memory on CUDA, precision is checked against the device and bf16 on CPU
stays close to fp32; frame-window extractors copy one batch of windows at a time."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from featurizer.errors import FeaturizerError, UnknownModelError
from featurizer.registry import create_extractor

from .conftest_deep import *  # noqa: F403


def _crops(n=3, size=112, seed=0):
    return np.random.default_rng(seed).integers(0, 255, (n, size, size, 3), dtype=np.uint8)


def test_preprocess_resizes_uint8_on_the_cpu_only(timm_dirs, monkeypatch):
    """CUDA has no bilinear/bicubic kernel for uint8: resizing must happen before the copy. A
    non-CPU target (``meta``) stands in for the GPU; any uint8 interpolation off the CPU fails."""
    import torch.nn.functional as F

    real = F.interpolate
    calls = []

    def interpolate(x, *a, **kw):
        calls.append((x.device.type, x.dtype))
        if x.dtype == torch.uint8 and x.device.type != "cpu":
            raise NotImplementedError("upsample_bilinear2d not implemented for 'Byte' on this device")
        return real(x, *a, **kw)

    monkeypatch.setattr(F, "interpolate", interpolate)
    ex = create_extractor("densenet", weights=str(timm_dirs["densenet"]))
    ex.device = torch.device("meta")
    x = ex.preprocess(_crops())
    assert x.device.type == "meta" and x.dtype == torch.float32 and x.shape == (3, 3, 224, 224)
    assert x.is_contiguous(memory_format=torch.channels_last)
    assert calls == [("cpu", torch.uint8)]


def test_host_to_device_copy_is_pinned_and_asynchronous_on_cuda(monkeypatch):
    import featurizer.precision as device

    seen = {}
    real_to = torch.Tensor.to

    def pin_memory(self):
        seen["pinned"] = True
        return self

    def to(self, *a, **kw):
        seen["non_blocking"] = kw.get("non_blocking", False)
        return real_to(self, *a, **kw)

    monkeypatch.setattr(device, "is_cuda", lambda d: True)  # the CUDA branch, with a meta target
    monkeypatch.setattr(torch.Tensor, "pin_memory", pin_memory)
    monkeypatch.setattr(torch.Tensor, "to", to)
    out = device.to_device(torch.zeros(2, 3, dtype=torch.uint8), torch.device("meta"))
    assert out.device.type == "meta" and seen == {"pinned": True, "non_blocking": True}
    monkeypatch.setattr(device, "is_cuda", lambda d: False)
    seen.clear()
    t = torch.zeros(2)
    assert device.to_device(t, torch.device("cpu")) is t and seen == {}  # CPU: no copy at all


def test_precision_rules():
    from featurizer.precision import resolve_precision

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert resolve_precision(None, cpu) == "fp32" and resolve_precision("bf16", cpu) == "bf16"
    assert resolve_precision(None, cuda) == "fp16" and resolve_precision(None, cuda, cuda_default="fp32") == "fp32"
    assert resolve_precision("FP16", cuda) == "fp16"
    with pytest.raises(FeaturizerError, match=r"densenet --precision fp16: float16 runs on CUDA only"):
        resolve_precision("fp16", cpu, "densenet")
    with pytest.raises(FeaturizerError, match="unknown precision"):
        resolve_precision("int8", cpu)


def test_every_deep_extractor_declares_precision():
    from featurizer.registry import list_models

    for s in list_models():
        assert s.takes("precision") == s.takes("weights"), s.name


def test_precision_option_reaches_the_model(timm_dirs, iresnet_pth, hubert_dir):
    with pytest.raises(FeaturizerError, match="float16 runs on CUDA only"):
        create_extractor("densenet", weights=str(timm_dirs["densenet"]), precision="fp16")
    with pytest.raises(UnknownModelError, match="must be one of fp32, bf16, fp16"):
        create_extractor("densenet", weights=str(timm_dirs["densenet"]), precision="fp8")
    crops = _crops()
    for name, w in (("densenet", timm_dirs["densenet"]), ("ires100", iresnet_pth)):
        f32 = create_extractor(name, weights=str(w))
        b16 = create_extractor(name, weights=str(w), precision="bf16")
        assert (f32.precision, b16.precision) == ("fp32", "bf16")
        assert b16.provenance()["precision"] == "bf16"
        a, b = f32.extract_faces(crops), b16.extract_faces(crops)
        assert b.dtype == np.float32
        rel = np.linalg.norm(a - b) / np.linalg.norm(a)
        assert 0 < rel < 0.05, (name, rel)  # bf16 ran (not bit-equal) and stays close
    wave = (0.1 * np.random.default_rng(1).standard_normal(16000)).astype(np.float32)
    (a,) = create_extractor("hubert:last", weights=str(hubert_dir)).extract_audio([wave], 16000)
    (b,) = create_extractor("hubert:last", weights=str(hubert_dir), precision="bf16").extract_audio([wave], 16000)
    assert 0 < np.linalg.norm(a - b) / np.linalg.norm(a) < 0.05


def test_ecapa_copies_one_batch_of_windows_at_a_time(ecapa_dir):
    """60 s at 2 s windows every 0.4 s: ~150 windows (19 MB as float32); only a batch is copied."""
    import tracemalloc

    ex = create_extractor("ecapatdnn", weights=str(ecapa_dir), batch_size=4)
    wave = (0.1 * np.random.default_rng(2).standard_normal(16000 * 60)).astype(np.float32)
    centres = np.arange(0.02, 60, 0.04)
    batches = []
    real = ex.embed

    def spy(windows):
        batches.append(windows.shape)
        return real(windows)

    ex.embed = spy
    tracemalloc.start()
    try:
        rows = ex.extract_windows(wave, 16000, centres)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert rows.shape == (len(centres), ex.dim) and np.isfinite(rows).all()
    n = len(ex.grid(centres))
    assert n > 145 and sum(b[0] for b in batches) == n and max(b[0] for b in batches) == 4
    all_windows = n * 32000 * 4
    assert peak < all_windows / 4, (peak, all_windows)
