"""wav2vec, hubert, ecapatdnn and vggish end to end on encoded media, with tiny models saved in
their real formats and loaded through ``weights={NAME: SOURCE}`` (the ``--weights`` path)."""

from __future__ import annotations

import numpy as np
import pytest
from featurizer import create_extractor, describe_model, extract
from featurizer.core.store import FeatureStore
from featurizer.extraction.audio_rows import hop_rows
from featurizer.media.decode import Audio, load_audio
from featurizer.models.weights import files_sha256, local_weights

from .conftest_deep import *  # noqa: F403
from .conftest_deep import ECAPA_DIM, assert_store


def _run(demo, model, weights, tmp_path, faces=False):
    out = str(tmp_path / "s.zarr")
    rep = extract([demo / "videos"], model, out, labels=demo / "annotations",
                  faces=demo / "cropped_aligned" if faces else None, weights=weights)
    assert rep.ok, (rep.problems, [r.error for r in rep.failed])
    return out


def test_declared_timing_is_the_conv_stack():
    from featurizer.models.extractors.hf_audio import conv_timing

    t = conv_timing((10, 3, 3, 3, 3, 2, 2), (5, 2, 2, 2, 2, 2, 2))
    assert (t.hop, t.window, t.offset) == (0.02, 0.025, 0.0125)
    for name in ("wav2vec", "hubert"):
        assert describe_model(name).timing == t


def test_hubert_and_wav2vec_layers_end_to_end(demo, hubert_dir, wav2vec_dir, tmp_path):
    out = _run(demo, "hubert,hubert:last,hubert:2,wav2vec:mean4",
               {"hubert": str(hubert_dir), "wav2vec": str(wav2vec_dir)}, tmp_path)
    assert_store(out, demo, "wav2vec:mean4", 32, local_weights("wav2vec", str(wav2vec_dir), wav2vec_dir).sha256)
    sha = local_weights("hubert", str(hubert_dir), hubert_dir).sha256
    attrs = assert_store(out, demo, "hubert", 16, sha)  # cnn: conv_dim[-1]
    assert_store(out, demo, "hubert:last", 32, sha)  # hidden_size
    assert_store(out, demo, "hubert:2", 32, sha)
    a = next(iter(attrs.values()))
    assert a["layer"] == "cnn" and a["weights_id"] == str(hubert_dir)
    assert a["timing"] == {"kind": "hop", "hop": 0.02, "window": 0.025, "offset": 0.0125}
    s = FeatureStore(out, mode="r")
    # both faces of video3 share its audio
    np.testing.assert_array_equal(s.read_feature("video3_left", "hubert:last").values,
                                  s.read_feature("video3_right", "hubert:last").values)
    # the sha256 covers config, preprocessor config and weights
    assert sha == files_sha256(sorted(p for p in hubert_dir.iterdir() if p.suffix in (".json", ".safetensors")))


def test_layer_choice_matches_transformers_hidden_states(demo, wav2vec_dir):
    """Hooks + truncated layers give what ``output_hidden_states`` gives (stable layer norm model)."""
    import torch
    import transformers

    wave = load_audio(next((demo / "videos").glob("*.mp4"))).samples[:16000]
    x = torch.from_numpy((wave - wave.mean()) / np.sqrt(wave.var() + 1e-7))[None]
    ref = transformers.AutoModel.from_pretrained(str(wav2vec_dir)).eval()
    with torch.inference_mode():
        out = ref(x, output_hidden_states=True)
        hs = out.hidden_states
        cnn = ref.feature_extractor(x).transpose(1, 2)
    L = len(hs) - 1
    expect = {"cnn": cnn, "0": hs[0], "2": hs[2], str(L): hs[L], "last": out.last_hidden_state,
              "mean4": sum(hs[-4:]) / 4}
    for layer, want in expect.items():
        ex = create_extractor(f"wav2vec:{layer}", weights=str(wav2vec_dir), precision="fp32")
        (rows,) = ex.extract_audio([wave], 16000)
        assert rows.shape == (ex.n_rows(len(wave)), ex.dim) == tuple(want.shape[1:])
        np.testing.assert_allclose(rows, want[0].numpy(), atol=2e-4, rtol=1e-4, err_msg=layer)


def test_long_audio_chunks_stitch_to_the_unchunked_rows(hubert_layernorm_dir):
    """CNN rows are local: chunked (with context, batched, grid-aligned) equals one pass exactly."""
    rng = np.random.default_rng(0)
    wave = (0.1 * rng.standard_normal(16000 * 7 + 1234)).astype(np.float32)
    audio = Audio(wave, 16000, 0.25)
    ex = create_extractor("hubert", weights=str(hubert_layernorm_dir), batch_size=3)
    ex.normalize = False  # per-chunk normalisation would differ from per-track
    ex.max_chunk_seconds = None
    whole, c_whole = hop_rows(ex, audio)
    ex.max_chunk_seconds, ex.chunk_context_seconds = 1.5, 0.05
    parts, c_parts = hop_rows(ex, audio)
    assert len(parts) == len(whole) == (len(wave) - 400) // 320 + 1  # rows = duration / hop
    np.testing.assert_allclose(c_parts, c_whole)
    np.testing.assert_allclose(c_whole, 0.25 + 0.0125 + 0.02 * np.arange(len(whole)))
    np.testing.assert_allclose(parts, whole, atol=1e-4)


def test_transformer_layer_chunks_are_grid_exact(hubert_dir):
    """Transformer rows in chunks: same count and centres as one pass, no padding rows."""
    wave = (0.1 * np.random.default_rng(1).standard_normal(16000 * 5 + 77)).astype(np.float32)
    ex = create_extractor("hubert:last", weights=str(hubert_dir), batch_size=2)
    ex.max_chunk_seconds, ex.chunk_context_seconds = 1.0, 0.5
    rows, centres = hop_rows(ex, Audio(wave, 16000, 0.0))
    assert len(rows) == (len(wave) - 400) // 320 + 1
    np.testing.assert_allclose(centres, 0.0125 + 0.02 * np.arange(len(rows)))
    assert np.isfinite(rows).all() and np.abs(rows).sum(1).min() > 0


def test_ecapatdnn_from_a_speechbrain_folder(demo, ecapa_dir, tmp_path):
    out = _run(demo, "ecapatdnn,ecapatdnn:1", {"ecapatdnn": str(ecapa_dir)}, tmp_path)
    sha = local_weights("ecapatdnn", str(ecapa_dir), ecapa_dir).sha256
    attrs = assert_store(out, demo, "ecapatdnn", ECAPA_DIM, sha)
    assert_store(out, demo, "ecapatdnn:1", ECAPA_DIM, sha)
    a = next(iter(attrs.values()))
    assert a["timing"] == {"kind": "frame_window", "hop": 0.4, "window": 2.0}
    s = FeatureStore(out, mode="r")
    f = s.read_feature("101-25-320x240", "ecapatdnn")
    assert f.present.mean() > 0.9  # windows shifted inside the audio at its ends


def test_ecapatdnn_equals_encode_batch_on_its_grid(demo, ecapa_dir):
    import torch
    from speechbrain.inference.classifiers import EncoderClassifier

    wave = load_audio(next((demo / "videos").glob("*.mp4"))).samples
    ex = create_extractor("ecapatdnn:1", weights=str(ecapa_dir))  # 1 s windows every 0.2 s
    centres = np.array([0.8, 1.0, 0.9])  # 0.8 and 1.0 are grid points; 0.9 interpolated
    got = ex.extract_windows(wave, 16000, centres)
    clf = EncoderClassifier.from_hparams(source=str(ecapa_dir), overrides={"pretrained_path": str(ecapa_dir)})
    wins = torch.from_numpy(np.stack([wave[4800:20800], wave[8000:24000]]))
    ref = clf.encode_batch(wins).squeeze(1).numpy()
    np.testing.assert_allclose(got[[0, 1]], ref, atol=1e-4)
    np.testing.assert_allclose(got[2], ref.mean(0), atol=1e-4)


def test_vggish_state_dict_and_exact_timing(demo, vggish_file, tmp_path):
    import torch
    import torchvggish
    from torchvggish.torchvggish import VGG, make_layers

    out = _run(demo, "vggish,vggish:240", {"vggish": str(vggish_file)}, tmp_path)
    sha = local_weights("vggish", str(vggish_file), vggish_file).sha256
    assert_store(out, demo, "vggish", 128, sha)
    assert_store(out, demo, "vggish:240", 128, sha)
    # patches and their centres against torchvggish's own framing and model
    wave = load_audio(next((demo / "videos").glob("*.mp4"))).samples
    ex = create_extractor("vggish", weights=str(vggish_file))
    (rows,) = ex.extract_audio([wave], 16000)
    ref_ex = torchvggish.waveform_to_examples(wave.astype(np.float64), 16000, return_tensor=True)
    assert len(rows) == len(ref_ex) == 2  # 2 s: patches at 0-0.975 and 0.96-1.935 s
    model = VGG(make_layers(), postprocess=False).eval()
    from safetensors.torch import load_file

    model.load_state_dict({k: v.float() for k, v in load_file(str(vggish_file)).items()})
    with torch.inference_mode():
        ref = model(ref_ex.detach()).numpy()  # torchvggish's forward: its last layer through a ReLU
        pre = model.embeddings[:-1](model.features(ref_ex.detach()).permute(0, 2, 3, 1).flatten(1)).numpy()
    np.testing.assert_allclose(rows, pre, rtol=1e-4, atol=1e-4)  # Google's embedding: before it
    assert rows.min() < 0 and ex.layer == "embedding" and ex.provenance()["postprocess"] is False
    np.testing.assert_allclose(np.maximum(rows, 0), ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ex.patch_centres(2), [0.4875, 1.4475])
    assert ex.timing.window == pytest.approx(0.975) and ex.timing.kind == "frame_window"
    # each frame takes the patch whose window holds it (nearest centre, by hand)
    centres = np.arange(50) * 0.04
    got = ex.extract_windows(wave, 16000, centres)
    want = np.abs(centres[:, None] - np.array([0.4875, 1.4475])[None]).argmin(1)
    np.testing.assert_array_equal(got, rows[want])


def test_vggish_marks_every_frame_with_audio_present(demo, vggish_file, tmp_path):
    """0.96 s patches against 25 fps frames: every frame with audio has a row (was 1 in 24)."""
    out = _run(demo, "vggish", {"vggish": str(vggish_file)}, tmp_path)
    s = FeatureStore(out, mode="r")
    for track in s.tracks():
        f = s.read_feature(track, "vggish")
        has_frame = s.frame_present(track)  # annotation lines past the video's end have none
        assert has_frame.sum() > 40 and f.present[has_frame].all(), (track, f.present.mean())
        assert not f.present[~has_frame].any()


def _torchvggish_postprocessed(weights: dict, pca: dict, wave: np.ndarray) -> np.ndarray:
    """torchvggish's own call: ``waveform_to_examples``, ``VGG`` forward, ``Postprocessor.postprocess``
    with the given PCA parameters (its constructor would download them)."""
    import torch
    import torchvggish
    from torchvggish.torchvggish import VGG, Postprocessor, make_layers

    model = VGG(make_layers(), postprocess=False).eval()
    model.load_state_dict({k: v.float() for k, v in weights.items()})
    pp = Postprocessor.__new__(Postprocessor)
    pp._pca_matrix = torch.as_tensor(pca["pca_eigen_vectors"]).float()
    pp._pca_means = torch.as_tensor(pca["pca_means"].reshape(-1, 1)).float()
    with torch.inference_mode():
        x = torchvggish.waveform_to_examples(wave.astype(np.float64), 16000, return_tensor=True)
        return pp.postprocess(model(x)).numpy()


def test_vggish_postprocess_is_torchvggish_output_from_each_pca_source(demo, vggish_release, tmp_path, monkeypatch):
    """postprocess=true: the PCA file as an option, both release files in one folder, a VGGish
    state dict's pproc.* tensors, and (default weights) the release URL from the cache; all
    equal torchvggish's Postprocessor on its own forward, and say so in provenance."""
    import os
    import shutil
    import warnings

    import torch
    from featurizer.errors import WeightsError
    from featurizer.models.extractors.vggish import DEFAULT_URL, PCA_URL
    from featurizer.models.weights import file_sha256
    from featurizer.models.weights.remote import url_cache_path

    wave = load_audio(next((demo / "videos").glob("*.mp4"))).samples
    rel = vggish_release
    pca = torch.load(rel["pca"], weights_only=False)
    want = _torchvggish_postprocessed(torch.load(rel["weights"], weights_only=True), pca, wave)
    assert want.shape == (2, 128) and want.min() >= 0 and want.max() <= 255
    cache = tmp_path / "torch"
    monkeypatch.setenv("TORCH_HOME", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # nothing is downloaded: the cache holds the release
    for url, f in ((DEFAULT_URL, rel["weights"]), (PCA_URL, rel["pca"])):
        url_cache_path(url).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(f, url_cache_path(url))
    cases = {"option": dict(weights=str(rel["weights"]), pca=str(rel["pca"])),
             "folder": dict(weights=str(rel["folder"])), "pproc": dict(weights=str(rel["pproc"])),
             "default": {}}
    for case, kw in cases.items():
        ex = create_extractor("vggish", postprocess=True, **kw)
        (rows,) = ex.extract_audio([wave], 16000)
        np.testing.assert_allclose(rows, want, atol=1.0 + 1e-3, err_msg=case)  # 8-bit: a rounding step apart
        assert np.mean(rows == want) > 0.97, case
        prov = ex.provenance()
        assert ex.layer == "pca" and prov["postprocess"] is True and "Postprocessor" in prov["architecture"]
        assert prov["pca_sha256"] == file_sha256(rel["pproc"] if case == "pproc" else rel["pca"]), case
    assert create_extractor("vggish", postprocess=True).provenance()["pca_id"] == PCA_URL
    # pproc.* tensors are not dropped silently: without postprocess, the raw embedding and a warning
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        ex = create_extractor("vggish", weights=str(rel["pproc"]))
    assert ex.layer == "embedding" and any("pproc" in str(x.message) for x in w)
    with pytest.raises(WeightsError, match=r"postprocess needs AudioSet's PCA parameters.*--option vggish\.pca="):
        create_extractor("vggish", weights=str(rel["weights"]), postprocess=True)
    sd = torch.load(rel["pproc"], weights_only=True)
    sd["pproc.scale"] = torch.ones(1)
    torch.save(sd, tmp_path / "odd.pth")
    with pytest.raises(WeightsError, match=r"pproc\.\* tensors that are not PCA parameters \(pproc\.scale\)"):
        create_extractor("vggish", weights=str(tmp_path / "odd.pth"))
    shutil.rmtree(cache)
