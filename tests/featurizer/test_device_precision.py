"""The device path without a GPU: preprocessing never interpolates uint8 off the CPU, host-to-device
copies go through pinned memory on CUDA, precision is checked against the device and bf16 on CPU
stays close to fp32; frame-window extractors copy one batch of windows at a time."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from featurizer import create_extractor
from featurizer.errors import FeaturizerError, UnknownModelError

from .conftest_deep import *  # noqa: F403
from .conftest_deep import save_speech_folder


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
    import featurizer.models.precision as device

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


def test_precision_rules(monkeypatch):
    import featurizer.models.precision as precision
    from featurizer.models.precision import resolve_precision

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    monkeypatch.setattr(precision, "has_native_bf16", lambda d: False)
    assert resolve_precision(None, cpu) == resolve_precision("auto", cpu) == "fp32"
    assert resolve_precision("bf16", cpu) == "bf16" and resolve_precision("FP32", cpu) == "fp32"
    assert resolve_precision(None, cuda) == "fp32" and resolve_precision("FP16", cuda) == "fp16"
    monkeypatch.setattr(precision, "has_native_bf16", lambda d: True)
    assert resolve_precision(None, cpu) == resolve_precision("Auto", cuda) == "bf16"
    assert resolve_precision(None, cpu, prefer_fp32=True) == "fp32"  # ECAPA, VGGish, ONNX graphs
    with pytest.raises(FeaturizerError, match=r"densenet --precision fp16: float16 runs on CUDA only"):
        resolve_precision("fp16", cpu, "densenet")
    with pytest.raises(FeaturizerError, match="unknown precision"):
        resolve_precision("int8", cpu)


def test_native_bf16_detection(monkeypatch, tmp_path):
    """AVX512-BF16, AMX or Arm BF16 in the CPU's flags (or torch's probe) is native bf16; AVX2 and
    plain AVX-512 are not (bf16 is emulated there, 4-90x slower than fp32 on this machine's CPU)."""
    import featurizer.core.device as device

    info = tmp_path / "cpuinfo"
    for flags, native in (("fpu sse2 avx2 fma", False), ("avx2 avx512f avx512bw avx512_vnni", False),
                          ("avx2 avx512f avx512_bf16", True), ("avx512f amx_tile amx_bf16", True)):
        info.write_text(f"processor\t: 0\nflags\t\t: {flags}\n\nprocessor\t: 1\nflags\t\t: {flags}\n")
        assert bool(device.BF16_CPU_FLAGS & device.cpu_flags(info)) is native, flags
    info.write_text("processor\t: 0\nFeatures\t: fp asimd sve bf16 i8mm\n")  # Graviton 3
    assert "bf16" in device.cpu_flags(info)
    assert device.cpu_flags(tmp_path / "absent") == frozenset()
    # the rule on the CPU, with the probe and the flags monkeypatched
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    for flags, native in ((frozenset({"avx2"}), False), (frozenset({"avx2", "avx512_bf16"}), True)):
        device.cpu_has_native_bf16.cache_clear()
        monkeypatch.setattr(device, "cpu_flags", lambda *a, f=flags: f)
        assert device.has_native_bf16(torch.device("cpu")) is native
    device.cpu_has_native_bf16.cache_clear()
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True)
    assert device.has_native_bf16(torch.device("cpu"))
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: not including_emulation)
    assert device.has_native_bf16(torch.device("cuda"))  # asked without emulation
    assert not device.has_native_bf16(torch.device("meta"))
    device.cpu_has_native_bf16.cache_clear()


def test_auto_precision_is_this_machines_rule_and_is_recorded(timm_dirs, monkeypatch):
    import featurizer.models.precision as precision
    from featurizer.core.device import has_native_bf16

    here = "bf16" if has_native_bf16(torch.device("cpu")) else "fp32"
    assert create_extractor("densenet", weights=str(timm_dirs["densenet"])).provenance()["precision"] == here
    monkeypatch.setattr(precision, "has_native_bf16", lambda d: True)
    ex = create_extractor("densenet", weights=str(timm_dirs["densenet"]), precision="auto")
    assert ex.precision == ex.provenance()["precision"] == "bf16"


def test_every_deep_extractor_declares_precision():
    from featurizer import describe_model, list_models

    for s in map(describe_model, list_models()):
        assert s.takes("precision") == s.takes("weights"), s.name


def test_precision_option_reaches_the_model(timm_dirs, iresnet_pth, tmp_path):
    with pytest.raises(FeaturizerError, match="float16 runs on CUDA only"):
        create_extractor("densenet", weights=str(timm_dirs["densenet"]), precision="fp16")
    with pytest.raises(UnknownModelError, match="fp8: unknown precision .use one of auto, fp32, bf16, fp16"):
        create_extractor("densenet", weights=str(timm_dirs["densenet"]), precision="fp8")
    crops = _crops()
    for name, w in (("densenet", timm_dirs["densenet"]), ("ires100", iresnet_pth)):
        f32 = create_extractor(name, weights=str(w), precision="fp32")
        b16 = create_extractor(name, weights=str(w), precision="bf16")
        assert (f32.precision, b16.precision) == ("fp32", "bf16")
        assert b16.provenance()["precision"] == "bf16"
        a, b = f32.extract_faces(crops), b16.extract_faces(crops)
        assert b.dtype == np.float32
        rel = np.linalg.norm(a - b) / np.linalg.norm(a)
        assert 0 < rel < 0.05, (name, rel)  # bf16 ran (not bit-equal) and stays close
    wave = (0.1 * np.random.default_rng(1).standard_normal(16000)).astype(np.float32)
    # 16 channels per group in the positional conv, as real HuBERTs have 48 or 64: with fewer,
    # oneDNN's bfloat16 grouped convolution on AMX CPUs (torch 2.11) returns garbage (measured:
    # 8 channels per group, kernel 16: 110% relative error; 16 or more: 0.3%)
    hubert_dir = save_speech_folder(tmp_path, "hubert", num_conv_pos_embedding_groups=2)
    (a,) = create_extractor("hubert:last", weights=str(hubert_dir), precision="fp32").extract_audio([wave], 16000)
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


def test_exprnet_refuses_features_made_in_another_precision(tmp_path):
    """A run trained on fp32 rows, a store re-extracted in bf16 (``--precision auto`` on a CPU
    with native bf16): exprnet's feature check refuses it unless ``--allow-feature-mismatch``."""
    import warnings

    from exprnet.data.provenance import check_features
    from exprnet.errors import DataError
    from featurizer.core.store import FeatureStore

    made = {"extractor": "hubert", "recipe_version": "1", "weights_sha256": "ab" * 32, "layer": "cnn",
            "timing": {"kind": "hop", "hop": 0.02}, "weights_kind": "user", "modality": "audio"}
    store = FeatureStore(tmp_path / "s.zarr")
    store.write_timeline("t", np.arange(4) / 25, np.ones(4, bool))
    store.write_feature("t", "hubert", np.ones((4, 3)), np.ones(4, bool), {**made, "precision": "fp32"})
    recorded = {"hubert": {"identity": store.feature("t", "hubert").identity}}
    assert check_features(recorded, {"hubert": store.feature("t", "hubert").identity}, "s", "run") == []
    store.write_feature("t", "hubert", np.ones((4, 3)), np.ones(4, bool), {**made, "precision": "bf16"})
    have = {"hubert": store.feature("t", "hubert").identity}
    with pytest.raises(DataError, match=r"precision=bf16.*--allow-feature-mismatch"):
        check_features(recorded, have, "s", "run")
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        assert check_features(recorded, have, "s", "run", allow=True) == ["hubert"]
    assert any("used anyway" in str(x.message) for x in w)
