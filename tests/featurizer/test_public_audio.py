"""whisper, wav2vec2-emotion and wav2vec2-emotion-adv from Hugging Face folders in their published
layouts: rows equal to the models called directly, declared timing checked against the models'
own front ends, one row per label frame in the store."""

from __future__ import annotations

import numpy as np
import pytest
from featurizer import create_extractor, extract
from featurizer.errors import WeightsError
from featurizer.extraction.audio_rows import hop_rows
from featurizer.media.decode import Audio, load_audio
from featurizer.models.weights import local_weights

from .conftest_deep import *  # noqa: F403
from .conftest_deep import assert_store
from .conftest_public import *  # noqa: F403
from .conftest_public import emotion_model_class


def _wave(demo, seconds=None):
    w = load_audio(next((demo / "videos").glob("*.mp4"))).samples
    return w if seconds is None else w[: int(seconds * 16000)]


def _norm(w):
    return ((w - w.mean()) / np.sqrt(w.var() + 1e-7)).astype(np.float32)


def test_whisper_rows_are_the_encoder_states_of_the_padded_window(demo, whisper_dir):
    import torch
    import transformers

    wave = _wave(demo, 1.99)  # not a multiple of 20 ms
    ex = create_extractor("whisper", weights=str(whisper_dir), precision="fp32")
    (rows,) = ex.extract_audio([wave], 16000)
    assert rows.shape == (int(np.ceil(len(wave) / 320)), 32) == (100, 32)
    fe = transformers.WhisperFeatureExtractor.from_pretrained(str(whisper_dir))
    model = transformers.WhisperForConditionalGeneration.from_pretrained(str(whisper_dir)).eval()
    x = fe(wave, sampling_rate=16000, return_tensors="pt")["input_features"]
    assert x.shape[-1] == 3000  # 30 s, padded
    with torch.inference_mode():
        out = model.model.encoder(x, output_hidden_states=True)
    np.testing.assert_allclose(rows, out.last_hidden_state[0, :100].numpy(), atol=1e-4, rtol=1e-4)
    (first,) = create_extractor("whisper:1", weights=str(whisper_dir), precision="fp32").extract_audio([wave], 16000)
    np.testing.assert_allclose(first, out.hidden_states[1][0, :100].numpy(), atol=1e-4, rtol=1e-4)
    assert ex.provenance()["n_mels"] == 80 and ex.timing.hop == 0.02 and ex.timing.offset == 0.0


def test_whisper_declared_timing_is_its_front_end(whisper_dir):
    """An impulse at 1 s peaks in mel frame 100, which reaches encoder position 50 only through
    positions' receptive fields 2k-2..2k+2: row 50 is centred at 1 s, as declared."""
    import torch
    import transformers

    fe = transformers.WhisperFeatureExtractor.from_pretrained(str(whisper_dir))
    wave = np.zeros(32000, np.float32)
    wave[16000] = 1.0
    mel = fe(wave, sampling_rate=16000, return_tensors="np")["input_features"][0]
    assert int(np.argmax(mel[:, :200].max(0))) == 100
    enc = transformers.WhisperForConditionalGeneration.from_pretrained(str(whisper_dir)).model.encoder
    x = torch.zeros(1, 80, 3000, requires_grad=True)
    y = enc.conv2(torch.nn.functional.gelu(enc.conv1(x)))  # (1, d, 1500)
    y[0, :, 50].sum().backward()
    seen = np.flatnonzero(x.grad[0].abs().sum(0).numpy())
    assert seen.tolist() == [98, 99, 100, 101, 102]
    ex = create_extractor("whisper", weights=str(whisper_dir))
    assert ex.timing.centres(51)[50] == pytest.approx(1.0)
    assert ex.timing.window == pytest.approx((5 * 160 + 240) / 16000)  # 5 frames of 25 ms, 10 ms apart


def test_whisper_long_audio_in_30_s_windows_keeps_the_grid(whisper_dir):
    rng = np.random.default_rng(0)
    wave = (0.1 * rng.standard_normal(16000 * 65 + 123)).astype(np.float32)
    ex = create_extractor("whisper", weights=str(whisper_dir), batch_size=2)
    lengths = []
    orig = ex.extract_audio

    def spy(waves, sr):
        lengths.extend(len(w) for w in waves)
        return orig(waves, sr)

    ex.extract_audio = spy
    rows, centres = hop_rows(ex, Audio(wave, 16000, 0.5))
    assert len(rows) == int(np.ceil(len(wave) / 320)) and np.isfinite(rows).all()
    np.testing.assert_allclose(centres, 0.5 + 0.02 * np.arange(len(rows)), atol=1e-9)
    assert len(lengths) == 3 and max(lengths) <= 30 * 16000


@pytest.mark.parametrize("folder", ["emotion_dir", "emotion_legacy_dir"])
def test_wav2vec2_emotion_hidden_states_and_adv_are_the_model_card_model(demo, folder, request):
    """Today's save_pretrained folder and the 2022 release's pytorch_model.bin (old weight-norm
    names) both give the model card's EmotionModel, loaded by transformers from the same folder."""
    import torch

    emotion_dir = request.getfixturevalue(folder)
    wave = _wave(demo)
    oracle = emotion_model_class().from_pretrained(str(emotion_dir)).eval()
    ex = create_extractor("wav2vec2-emotion", weights=str(emotion_dir), precision="fp32")
    (rows,) = ex.extract_audio([wave], 16000)
    with torch.inference_mode():
        h = oracle.wav2vec2(torch.from_numpy(_norm(wave))[None]).last_hidden_state[0].numpy()
    np.testing.assert_allclose(rows, h, atol=2e-4, rtol=1e-4)
    adv = create_extractor("wav2vec2-emotion-adv:1", weights=str(emotion_dir), precision="fp32")  # 1 s windows every 0.2 s
    assert adv.dim == 3 and adv.provenance()["columns"] == ["arousal", "dominance", "valence"]
    got = adv.extract_windows(wave, 16000, np.array([0.8, 1.0, 0.9]))  # 0.9: between grid points
    with torch.inference_mode():
        ref = np.stack([oracle(torch.from_numpy(_norm(wave[s : s + 16000]))[None])[1][0].numpy()
                        for s in (4800, 8000)])
    np.testing.assert_allclose(got[[0, 1]], ref, atol=1e-4)
    np.testing.assert_allclose(got[2], ref.mean(0), atol=1e-4)


def test_wav2vec2_emotion_adv_needs_the_regression_head(wav2vec_dir):
    with pytest.raises(WeightsError, match=r"no tensors named classifier\.\*"):
        create_extractor("wav2vec2-emotion-adv", weights=str(wav2vec_dir))


def test_public_audio_models_end_to_end(demo, whisper_dir, emotion_dir, tmp_path):
    out = str(tmp_path / "s.zarr")
    rep = extract([demo / "videos"], "whisper,wav2vec2-emotion,wav2vec2-emotion-adv", out,
                  labels=demo / "annotations",
                  weights={"whisper": str(whisper_dir), "wav2vec2-emotion": str(emotion_dir),
                           "wav2vec2-emotion-adv": str(emotion_dir)})
    assert rep.ok, (rep.problems, [r.error for r in rep.failed])
    w = assert_store(out, demo, "whisper", 32, local_weights("whisper", str(whisper_dir), whisper_dir).sha256)
    assert w["video3_left"]["timing"] == {"kind": "hop", "hop": 0.02, "window": 0.065, "offset": 0.0}
    sha = local_weights("x", str(emotion_dir), emotion_dir).sha256
    assert_store(out, demo, "wav2vec2-emotion", 32, sha)
    a = assert_store(out, demo, "wav2vec2-emotion-adv", 3, sha)["101-25-320x240"]
    assert a["timing"] == {"kind": "frame_window", "hop": 0.6, "window": 3.0}


# openai/whisper-large-v3's files (sizes in bytes as the hub lists them, weights only)
LARGE_V3 = {"added_tokens.json": 0, "config.json": 0, "flax_model.msgpack": 3_087_236_306,
            "generation_config.json": 0, "merges.txt": 0, "model.safetensors": 3_087_130_976,
            "model.fp32-00001-of-00002.safetensors": 4_993_448_880,
            "model.fp32-00002-of-00002.safetensors": 1_180_663_192, "model.safetensors.index.fp32.json": 0,
            "normalizer.json": 0, "preprocessor_config.json": 0, "pytorch_model.bin": 3_087_394_975,
            "pytorch_model.bin.index.fp32.json": 0, "pytorch_model.fp32-00001-of-00002.bin": 4_993_677_250,
            "pytorch_model.fp32-00002-of-00002.bin": 1_180_685_262, "special_tokens_map.json": 0,
            "tokenizer.json": 0, "tokenizer_config.json": 0, "vocab.json": 0}


def _with_other_weight_sets(whisper_dir, d):
    """``whisper_dir`` plus what large-v3 ships beside ``model.safetensors``: fp32 shards with
    their index, and a ``pytorch_model.bin``, all holding other values."""
    import json
    import shutil

    import torch
    from safetensors.torch import load_file, save_file

    shutil.copytree(whisper_dir, d)
    sd = load_file(str(d / "model.safetensors"))
    other = {k: v + 1.0 for k, v in sd.items()}
    keys = sorted(other)
    shards = {"model.fp32-00001-of-00002.safetensors": keys[: len(keys) // 2],
              "model.fp32-00002-of-00002.safetensors": keys[len(keys) // 2 :]}
    for fname, ks in shards.items():
        save_file({k: other[k].contiguous() for k in ks}, str(d / fname), metadata={"format": "pt"})
    (d / "model.safetensors.index.fp32.json").write_text(json.dumps(
        {"metadata": {}, "weight_map": {k: f for f, ks in shards.items() for k in ks}}))
    torch.save(other, d / "pytorch_model.bin")
    return d


def test_whisper_reads_one_weights_set_of_a_full_download(demo, whisper_dir, tmp_path, monkeypatch):
    """A folder with every set large-v3 ships loads model.safetensors only (rows as transformers'
    own ``from_pretrained``), opens no other weights file, and hashes only what it used."""
    import safetensors
    import torch
    import transformers
    from featurizer.models.weights import files_sha256

    d = _with_other_weight_sets(whisper_dir, tmp_path / "whisper")
    opened = []
    real_open = safetensors.safe_open
    monkeypatch.setattr(safetensors, "safe_open", lambda f, **kw: opened.append(f) or real_open(f, **kw))
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda f, *a, **kw: opened.append(str(f)) or real_load(f, *a, **kw))
    wave = _wave(demo, 1.0)
    ex = create_extractor("whisper", weights=str(d), precision="fp32")
    assert [p.rsplit("/", 1)[-1] for p in opened] == ["model.safetensors"]
    monkeypatch.undo()
    (rows,) = ex.extract_audio([wave], 16000)
    fe = transformers.WhisperFeatureExtractor.from_pretrained(str(d))
    model = transformers.WhisperForConditionalGeneration.from_pretrained(str(d)).eval()  # its own choice
    with torch.inference_mode():
        ref = model.model.encoder(fe(wave, sampling_rate=16000, return_tensors="pt")["input_features"])
    np.testing.assert_allclose(rows, ref.last_hidden_state[0, : len(rows)].numpy(), atol=1e-4, rtol=1e-4)
    res = local_weights("whisper", str(d), d)
    assert {f.name for f in res.files} == {"config.json", "generation_config.json", "preprocessor_config.json",
                                           "model.safetensors"}
    assert ex.weights_sha256 == res.sha256 == files_sha256(list(res.files))


def test_whisper_sharded_checkpoint_loads_from_its_index(demo, whisper_dir, tmp_path):
    import transformers

    model = transformers.WhisperForConditionalGeneration.from_pretrained(str(whisper_dir)).eval()
    d = tmp_path / "sharded"
    model.save_pretrained(d, max_shard_size="200KB")  # model-0000k-of-0000n.safetensors + index
    transformers.WhisperFeatureExtractor.from_pretrained(str(whisper_dir)).save_pretrained(d)
    assert (d / "model.safetensors.index.json").is_file() and not (d / "model.safetensors").exists()
    wave = _wave(demo, 1.0)
    (rows,) = create_extractor("whisper", weights=str(d)).extract_audio([wave], 16000)
    (want,) = create_extractor("whisper", weights=str(whisper_dir)).extract_audio([wave], 16000)
    np.testing.assert_array_equal(rows, want)
    res = local_weights("whisper", str(d), d)
    assert "model.safetensors.index.json" in {f.name for f in res.files}
    assert len([f for f in res.files if f.suffix == ".safetensors"]) > 1
    (tmp_path / "empty").mkdir()  # a folder with no weights set is refused, naming what it looked for
    (tmp_path / "empty" / "config.json").write_text((d / "config.json").read_text())
    with pytest.raises(WeightsError, match="model.safetensors, pytorch_model.bin"):
        create_extractor("whisper", weights=str(tmp_path / "empty"))


def test_whisper_download_takes_one_weights_set(tmp_path, monkeypatch):
    """Against large-v3's file list, the hub download asks for model.safetensors and the configs:
    3.1 GB, where ``*.safetensors`` took the fp32 shards too (9.3 GB)."""
    import huggingface_hub
    from featurizer.models.weights import remote
    from huggingface_hub.utils import filter_repo_objects

    asked = []

    def snapshot_download(repo, allow_patterns, local_files_only, **kw):
        if local_files_only:
            raise FileNotFoundError("not cached")
        asked.append(list(allow_patterns))
        folder = tmp_path / repo.replace("/", "--")
        folder.mkdir(exist_ok=True)
        for f in filter_repo_objects(LARGE_V3, allow_patterns=allow_patterns):
            (folder / f).write_text("{}" if f.endswith(".json") else "x")
        return str(folder)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    monkeypatch.setattr(remote, "check_can_download", lambda *a: None)
    from featurizer.models.weights import resolve

    res = resolve("whisper", None, "openai/whisper-large-v3", needs=("config.json",))
    got = {f.name for f in res.path.iterdir()}
    weights = sorted(f for f in got if LARGE_V3[f])
    assert weights == ["model.safetensors"] and len(asked) == 1
    assert sum(LARGE_V3[f] for f in got) / 1e9 == pytest.approx(3.09, abs=0.01)
    old = filter_repo_objects(LARGE_V3, allow_patterns=["*.json", "*.safetensors"])
    assert sum(LARGE_V3[f] for f in old) / 1e9 == pytest.approx(9.26, abs=0.01)  # what it was
    assert [f.name for f in res.files if f.suffix == ".safetensors"] == ["model.safetensors"]
