"""Weights sources: kinds, hashes, prefixes, strict loading, and the offline error (fast, named)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from featurizer import create_extractor, describe_model, list_models
from featurizer.errors import FeaturizerError, WeightsError
from featurizer.models.weights import (
    check_state_dict,
    file_sha256,
    files_sha256,
    match_state_dict,
    resolve,
)

from .conftest_deep import *  # noqa: F403

PAPER = {"egemaps": 25, "compare": 130, "fbank": 80, "vggish": 128, "wav2vec": 1024, "ecapatdnn": 192,
         "hubert": 512, "densenet": 1024, "mae": 768, "ires100": 512, "fau": 512, "mobilenet": 1280}
DEFAULTS = {"wav2vec": "facebook/wav2vec2-large-960h", "hubert": "facebook/hubert-base-ls960",
            "ecapatdnn": "speechbrain/spkrec-ecapa-voxceleb", "densenet": "timm/densenet121.ra_in1k",
            "mae": "timm/vit_base_patch16_224.mae", "mobilenet": "timm/mobilenetv3_large_100.ra_in1k",
            "vggish": "https://github.com/harritaylor/torchvggish/releases/download/v0.1/vggish-10086976.pth",
            "emotieff-b0": "https://github.com/sb-ai-lab/EmotiEffLib/raw/main/models/affectnet_emotions/onnx/enet_b0_8_va_mtl.onnx",
            "emotieff-mbf": "https://github.com/sb-ai-lab/EmotiEffLib/raw/main/models/affectnet_emotions/onnx/mbf_va_mtl.onnx",
            "dinov2": "facebook/dinov2-large", "clip": "openai/clip-vit-large-patch14",
            "whisper": "openai/whisper-large-v3",
            "wav2vec2-emotion": "audeering/wav2vec2-large-robust-12-ft-emotion-msp-dim",
            "wav2vec2-emotion-adv": "audeering/wav2vec2-large-robust-12-ft-emotion-msp-dim"}


def test_all_paper_extractors_are_registered_with_timing_and_source():
    specs = {s.name: s for s in map(describe_model, list_models())}
    for name, dim in PAPER.items():
        s = specs[name]
        assert s.dim == dim and s.timing.kind in ("hop", "frame_window", "per_frame")
        assert s.weights_text() and s.recipe_version
    for name, src in DEFAULTS.items():
        assert specs[name].weights_source == src and specs[name].needs_weights


def test_resolve_kinds_and_hashes(tmp_path, hubert_dir, ecapa_dir, iresnet_pth):
    r = resolve("hubert", str(hubert_dir), None)
    assert r.kind == "hf_folder" and r.path == hubert_dir
    assert {f.name for f in r.files} == {"config.json", "preprocessor_config.json", "model.safetensors"}
    assert r.sha256 == files_sha256(list(r.files)) and len(r.sha256) == 64
    assert resolve("ecapatdnn", str(ecapa_dir), None).kind == "speechbrain"
    f = resolve("ires100", str(iresnet_pth), None)
    assert (f.kind, f.sha256) == ("file", file_sha256(iresnet_pth))
    # a folder holding one state dict is that file
    assert resolve("ires100", str(iresnet_pth.parent), None).path == iresnet_pth
    assert resolve("mae", "random", "timm/x").kind == "random"
    with pytest.raises(WeightsError, match="no such file"):
        resolve("ires100", str(tmp_path / "nope.pth"), None)
    with pytest.raises(WeightsError, match=r"--weights fau=PATH"):
        resolve("fau", None, None, where="not public")


def test_prefixes_and_heads():
    keys = ["conv.weight", "bn.weight", "fc.weight"]
    sd = {f"module.backbone.{k}": 1 for k in keys} | {"module.head.weight": 2, "module.margin.w": 3}
    got, rep = match_state_dict(keys, sd)
    assert set(got) == set(keys) and rep.stripped == ["module.", "backbone."]
    assert rep.dropped == ["head.weight", "margin.w"]
    # an extra key inside a module the model has is not a head: left for the strict check
    got, rep = match_state_dict(keys, {**{k: 1 for k in keys}, "conv.extra": 1, "classifier.w": 1})
    assert "conv.extra" in got and rep.dropped == ["classifier.w"]


def test_check_state_dict_lists_keys():
    import torch

    model = {"a.weight": torch.zeros(2, 2), "b.weight": torch.zeros(3), "n.num_batches_tracked": torch.zeros(())}
    check_state_dict(model, {"a.weight": torch.ones(2, 2), "b.weight": torch.ones(3)}, "x", "src", "arch")
    with pytest.raises(WeightsError) as e:
        check_state_dict(model, {"a.weight": torch.ones(2, 3), "c": torch.ones(1)}, "x", "src", "arch")
    assert "1 missing: b.weight" in str(e.value) and "1 unexpected: c" in str(e.value)
    assert "a.weight (2, 3) vs (2, 2)" in str(e.value)


def test_hf_checkpoint_with_missing_tensors_is_an_error(hubert_dir, tmp_path):
    import shutil

    from safetensors.torch import load_file, save_file

    d = tmp_path / "h"
    shutil.copytree(hubert_dir, d)
    sd = load_file(str(d / "model.safetensors"))
    sd.pop("encoder.layers.1.attention.k_proj.weight")
    save_file(sd, str(d / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(WeightsError, match=r"missing: encoder\.layers\.1\.attention\.k_proj\.weight"):
        create_extractor("hubert:last", weights=str(d))
    with pytest.raises(WeightsError, match="is a 'hubert' model, not wav2vec2"):
        create_extractor("wav2vec", weights=str(hubert_dir))


def test_offline_without_cache_fails_fast_naming_model_source_and_flag(tmp_path, monkeypatch):
    import huggingface_hub.constants as hc

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(hc, "HF_HUB_CACHE", str(tmp_path / "hub"))  # nothing cached
    for name, src in DEFAULTS.items():
        t0 = time.perf_counter()
        with pytest.raises(WeightsError) as e:
            create_extractor(name)
        assert time.perf_counter() - t0 < 5, name
        msg = str(e.value)
        assert msg.startswith(f"{name} weights {src}:"), msg
        assert "offline" in msg and f"--weights {name}=" in msg
    for name in ("ires100", "fau", "mae-face"):
        with pytest.raises(WeightsError, match=rf"--weights {name}=PATH"):
            create_extractor(name)


def test_unreachable_host_is_detected_quickly():
    from featurizer.models.weights import unreachable as _unreachable

    t0 = time.perf_counter()
    assert _unreachable("https://weights.invalid/x.pth")
    assert time.perf_counter() - t0 < 5


def test_cli_offline_error_is_one_clear_line(demo, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"),
           "TORCH_HOME": str(tmp_path / "torch")}
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", "from featurizer.cli import main; main()", "extract",
                        str(demo / "videos"), "--model", "hubert", "--out", str(tmp_path / "s.zarr")],
                       env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 2, p.stderr
    assert time.perf_counter() - t0 < 60
    err = " ".join(p.stderr.split())
    assert "hubert weights facebook/hubert-base-ls960" in err and "--weights hubert=" in err


def test_device_option():
    from featurizer.core.device import resolve_device

    assert resolve_device("auto").type in ("cpu", "cuda")
    assert resolve_device(None).type == "cpu"
    with pytest.raises(FeaturizerError, match="unknown device"):
        resolve_device("tpu")
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(FeaturizerError, match="CUDA is not available"):
            resolve_device("cuda")


def test_variant_names_are_validated_early():
    from featurizer.errors import UnknownModelError

    assert describe_model("hubert:last").dim == 768 and describe_model("hubert:cnn").dim == 512
    with pytest.raises(UnknownModelError, match="bad layer"):
        describe_model("hubert:top")
    with pytest.raises(UnknownModelError, match="has no variants"):
        describe_model("egemaps:x")


@pytest.mark.parametrize("kind", ["wav2vec2-ctc", "hubert"])
def test_legacy_pytorch_model_bin_with_weight_norm_names(kind, tmp_path):
    """The 2021-22 hub releases (facebook/wav2vec2-large-960h: a ForCTC checkpoint with the
    ``wav2vec2.`` prefix and ``lm_head``; facebook/hubert-base-ls960: a bare HubertModel) are
    ``pytorch_model.bin`` files whose positional convolution keeps the old weight-norm names
    ``weight_g``/``weight_v``: they load, and give the rows of transformers' own model."""
    import numpy as np
    import torch
    import transformers

    from .conftest_deep import save_legacy_bin, tiny_speech_config

    torch.manual_seed(7)
    if kind == "hubert":
        name, model = "hubert", transformers.HubertModel(tiny_speech_config("hubert"))
    else:
        name, model = "wav2vec", transformers.Wav2Vec2ForCTC(tiny_speech_config("wav2vec2"))
    sd = save_legacy_bin(model, tmp_path)
    assert any(k.endswith("weight_g") for k in sd) and not (tmp_path / "model.safetensors").exists()
    assert any(k.startswith("lm_head") for k in sd) is (kind != "hubert")
    ex = create_extractor(f"{name}:last", weights=str(tmp_path), precision="fp32")
    assert ex.dim == 32 and ex.architecture.endswith("Model")
    assert ex.weights_sha256 == files_sha256(sorted(tmp_path.glob("*.json")) + [tmp_path / "pytorch_model.bin"])
    wave = (0.1 * np.random.default_rng(0).standard_normal(16000)).astype(np.float32)
    ref = transformers.AutoModel.from_pretrained(str(tmp_path)).eval()  # transformers' own reading
    x = torch.from_numpy((wave - wave.mean()) / np.sqrt(wave.var() + 1e-7))[None]
    with torch.inference_mode():
        want = ref(x).last_hidden_state[0].numpy()
    (rows,) = ex.extract_audio([wave], 16000)
    np.testing.assert_allclose(rows, want, atol=2e-4, rtol=1e-4)
    g = next(k for k in sd if k.endswith("weight_g"))
    assert float(sd[g].abs().sum()) > 0  # the legacy tensors were used, not a fresh init


def test_speechbrain_checkpoint_is_checked_strictly(ecapa_dir, tmp_path):
    import shutil

    import torch

    d = tmp_path / "sb"
    shutil.copytree(ecapa_dir, d)
    sd = torch.load(d / "embedding_model.ckpt", weights_only=True)
    sd.pop(next(iter(sd)))
    torch.save(sd, d / "embedding_model.ckpt")
    with pytest.raises(WeightsError, match=r"ecapatdnn weights .*embedding_model\.ckpt.*1 missing"):
        create_extractor("ecapatdnn", weights=str(d))
