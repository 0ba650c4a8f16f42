"""Fixtures for the pretrained-model extractors: a small demo corpus and tiny models saved in the
real formats (HF folder, speechbrain folder, timm hub folder, IResNet and VGGish state dicts), so
tests load them through the same ``--weights NAME=SOURCE`` path a user's weights take.

Import the fixtures into a test module: ``from .conftest_deep import *  # noqa: F403``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SPEECHBRAIN_YAML = """\
# tiny ECAPA-TDNN in the layout of speechbrain/spkrec-ecapa-voxceleb's hyperparams.yaml
n_mels: 80
pretrained_path: speechbrain/spkrec-ecapa-voxceleb
out_n_neurons: 5

compute_features: !new:speechbrain.lobes.features.Fbank
    n_mels: !ref <n_mels>

mean_var_norm: !new:speechbrain.processing.features.InputNormalization
    norm_type: sentence
    std_norm: False

embedding_model: !new:speechbrain.lobes.models.ECAPA_TDNN.ECAPA_TDNN
    input_size: !ref <n_mels>
    channels: [16, 16, 16, 16, 48]
    kernel_sizes: [5, 3, 3, 3, 1]
    dilations: [1, 2, 3, 4, 1]
    attention_channels: 8
    res2net_scale: 4
    se_channels: 8
    lin_neurons: 24

classifier: !new:speechbrain.lobes.models.ECAPA_TDNN.Classifier
    input_size: 24
    out_neurons: !ref <out_n_neurons>

modules:
    compute_features: !ref <compute_features>
    mean_var_norm: !ref <mean_var_norm>
    embedding_model: !ref <embedding_model>
    classifier: !ref <classifier>

pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    loadables:
        embedding_model: !ref <embedding_model>
        classifier: !ref <classifier>
    paths:
        embedding_model: !ref <pretrained_path>/embedding_model.ckpt
        classifier: !ref <pretrained_path>/classifier.ckpt
"""
ECAPA_DIM = 24


@pytest.fixture(scope="session")
def demo(tmp_path_factory) -> Path:
    """Two 2 s videos in the Aff-Wild2 layout (one with two faces: ``video3_left/right``)."""
    from featurizer.demo import make_demo

    root = tmp_path_factory.mktemp("deep_demo")
    make_demo(root, n_videos=2, seconds=2.0, seed=3)
    return root


def tiny_speech_config(model_type: str, **kw):
    import transformers

    cls = {"hubert": transformers.HubertConfig, "wav2vec2": transformers.Wav2Vec2Config}[model_type]
    args = dict(hidden_size=32, num_hidden_layers=5, num_attention_heads=2, intermediate_size=64,
                conv_dim=(16,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4,
                vocab_size=12)
    args.update(kw)
    return cls(**args)


def save_speech_folder(folder: Path, model_type: str, seed: int = 0, **kw) -> Path:
    """A Hugging Face model folder exactly as ``save_pretrained`` writes it."""
    import torch
    import transformers

    torch.manual_seed(seed)
    model = transformers.AutoModel.from_config(tiny_speech_config(model_type, **kw))
    model.save_pretrained(folder)
    transformers.Wav2Vec2FeatureExtractor(do_normalize=True).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def hubert_dir(tmp_path_factory) -> Path:
    return save_speech_folder(tmp_path_factory.mktemp("hubert_tiny"), "hubert")


@pytest.fixture(scope="session")
def hubert_layernorm_dir(tmp_path_factory) -> Path:
    """No group norm over time in the CNN: chunked and unchunked CNN rows agree exactly."""
    return save_speech_folder(tmp_path_factory.mktemp("hubert_ln"), "hubert", feat_extract_norm="layer",
                              conv_bias=True)


@pytest.fixture(scope="session")
def wav2vec_dir(tmp_path_factory) -> Path:
    return save_speech_folder(tmp_path_factory.mktemp("wav2vec_tiny"), "wav2vec2", seed=1,
                              do_stable_layer_norm=True, feat_extract_norm="layer")


@pytest.fixture(scope="session")
def ecapa_dir(tmp_path_factory) -> Path:
    """A speechbrain folder as ``EncoderClassifier.from_hparams(source=...)`` expects."""
    import torch
    from hyperpyyaml import load_hyperpyyaml

    d = tmp_path_factory.mktemp("ecapa_tiny")
    (d / "hyperparams.yaml").write_text(SPEECHBRAIN_YAML)
    torch.manual_seed(0)
    hp = load_hyperpyyaml(SPEECHBRAIN_YAML)
    torch.save(hp["embedding_model"].state_dict(), d / "embedding_model.ckpt")
    torch.save(hp["classifier"].state_dict(), d / "classifier.ckpt")
    return d


def tiny_iresnet_config():
    from featurizer.extractors.iresnet_arch import IResNetConfig

    return IResNetConfig(layers=(1, 2, 1, 1), widths=(8, 16, 16, 32), stem=8, num_features=16)


@pytest.fixture(scope="session")
def iresnet_pth(tmp_path_factory) -> Path:
    """An insightface-style training checkpoint: DataParallel ``module.`` prefix and a margin head."""
    import torch
    from featurizer.extractors.iresnet_arch import build

    torch.manual_seed(0)
    model = build(tiny_iresnet_config())
    sd = {f"module.{k}": v for k, v in model.state_dict().items()}
    sd["module.head.weight"] = torch.randn(10, 16)  # e.g. an AU or margin head: dropped
    p = tmp_path_factory.mktemp("ires") / "backbone.pth"
    torch.save(sd, p)
    return p


def save_timm_folder(folder: Path, arch: str, **kw) -> Path:
    """A timm hub-style folder (``config.json`` + ``model.safetensors``) via timm's own saver."""
    import timm
    import torch
    from timm.models._hub import save_for_hf

    torch.manual_seed(0)
    model = timm.create_model(arch, pretrained=False, num_classes=0, **kw)
    save_for_hf(model, str(folder), safe_serialization=True)
    return folder


TIMM_TINY = {
    "densenet": ("densenet121", dict(growth_rate=8, block_config=(1, 1, 1, 1), bn_size=2)),
    "mae": ("vit_tiny_patch16_224", dict(embed_dim=32, depth=1, num_heads=2)),
    "mobilenet": ("mobilenetv3_small_050", {}),
}


@pytest.fixture(scope="session")
def timm_dirs(tmp_path_factory) -> dict[str, Path]:
    return {name: save_timm_folder(tmp_path_factory.mktemp(f"timm_{name}"), arch, **kw)
            for name, (arch, kw) in TIMM_TINY.items()}


@pytest.fixture(scope="session")
def vggish_file(tmp_path_factory) -> Path:
    """torchvggish's VGG state dict (the real architecture: 72M parameters, stored as float16)."""
    import torch
    from safetensors.torch import save_file
    from torchvggish.torchvggish import VGG, make_layers

    torch.manual_seed(0)
    model = VGG(make_layers(), postprocess=False)
    sd = {k: v.half().contiguous() for k, v in model.state_dict().items()}
    p = tmp_path_factory.mktemp("vggish") / "vggish.safetensors"
    save_file(sd, str(p))
    return p


@pytest.fixture(scope="session")
def vggish_release(vggish_file, tmp_path_factory) -> dict[str, Path]:
    """torchvggish's release files under their names, in one folder: ``vggish-10086976.pth`` (the
    VGG state dict, torch format) and ``vggish_pca_params-970ea276.pth`` (AudioSet's PCA as numpy
    arrays, as ``torch.save(dict(np.load("vggish_pca_params.npz")))`` writes them); and
    ``pproc.pth``, a state dict of torchvggish's ``VGGish`` module (``pproc.pca_matrix``,
    ``pproc.pca_means`` beside the VGG's tensors)."""
    import torch
    from safetensors.torch import load_file

    d = tmp_path_factory.mktemp("vggish_release")
    sd = load_file(str(vggish_file))
    torch.save(sd, d / "vggish-10086976.pth")
    rng = np.random.default_rng(0)
    pca = {"pca_eigen_vectors": np.linalg.qr(rng.standard_normal((128, 128)))[0] * 2.0,
           "pca_means": rng.normal(0.0, 0.05, 128)}
    torch.save(pca, d / "vggish_pca_params-970ea276.pth")
    other = tmp_path_factory.mktemp("vggish_pproc") / "pproc.pth"
    torch.save({**sd, "pproc.pca_matrix": torch.from_numpy(pca["pca_eigen_vectors"]).float(),
                "pproc.pca_means": torch.from_numpy(pca["pca_means"]).float().reshape(-1, 1)}, other)
    return {"folder": d, "weights": d / "vggish-10086976.pth", "pca": d / "vggish_pca_params-970ea276.pth",
            "pproc": other}


def label_rows(demo: Path) -> dict[str, int]:
    from featurizer.core.annotations import read_annotation

    return {p.stem: len(read_annotation(p)) for p in (demo / "annotations").rglob("*.txt")}


def assert_store(out: str, demo: Path, model: str, dim: int, sha: str | None) -> dict:
    """Rows equal label frames, the declared dim, finite values, provenance with the sha256."""
    from featurizer.core.store import FeatureStore

    s = FeatureStore(out, mode="r")
    rows = label_rows(demo)
    assert set(s.tracks()) == set(rows)
    attrs = {}
    for track, n in rows.items():
        f = s.read_feature(track, model)
        assert f.values.shape == (n, dim), (track, model, f.values.shape)
        assert np.isfinite(f.values.astype(np.float32)).all()
        assert f.attrs["dim"] == dim and f.attrs["weights_sha256"] == sha
        attrs[track] = f.attrs
    return attrs
