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


LEGACY_WEIGHT_NORM = {"parametrizations.weight.original0": "weight_g",
                      "parametrizations.weight.original1": "weight_v"}


def save_legacy_bin(model, folder: Path) -> dict:
    """``model`` as 2021-22 transformers wrote it: ``pytorch_model.bin`` (torch pickle, no
    safetensors) with weight norm under its old names ``weight_g``/``weight_v``, plus its config
    (and a feature extractor config); returns the saved state dict."""
    import torch
    import transformers

    model.save_pretrained(folder)
    (folder / "model.safetensors").unlink()
    sd = {}
    for k, v in model.state_dict().items():
        for new, old in LEGACY_WEIGHT_NORM.items():
            k = k.replace(new, old)
        sd[k] = v.contiguous()
    torch.save(sd, folder / "pytorch_model.bin")
    transformers.Wav2Vec2FeatureExtractor(do_normalize=True).save_pretrained(folder)
    return sd


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
    from featurizer.models.extractors._iresnet_arch import IResNetConfig

    return IResNetConfig(layers=(1, 2, 1, 1), widths=(8, 16, 16, 32), stem=8, num_features=16)


def insightface_iresnet(layers=(1, 2, 1, 1), widths=(8, 16, 16, 32), num_features=16):
    """insightface ``arcface_torch/backbones/iresnet.py``'s ``IResNet`` as the test's oracle: the
    same modules, names, initialisation and forward (their stem is 64 wide and the stages
    64/128/256/512; here the widths are a parameter so the fixture stays tiny)."""
    import torch
    from torch import nn

    def conv3x3(cin, cout, stride=1):
        return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)

    class IBasicBlock(nn.Module):
        def __init__(self, inplanes, planes, stride=1, downsample=None):
            super().__init__()
            self.bn1 = nn.BatchNorm2d(inplanes, eps=1e-05)
            self.conv1 = conv3x3(inplanes, planes)
            self.bn2 = nn.BatchNorm2d(planes, eps=1e-05)
            self.prelu = nn.PReLU(planes)
            self.conv2 = conv3x3(planes, planes, stride)
            self.bn3 = nn.BatchNorm2d(planes, eps=1e-05)
            self.downsample = downsample

        def forward(self, x):
            out = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
            return out + (self.downsample(x) if self.downsample is not None else x)

    class IResNet(nn.Module):
        fc_scale = 7 * 7

        def __init__(self):
            super().__init__()
            self.inplanes = widths[0]
            self.conv1 = nn.Conv2d(3, self.inplanes, 3, stride=1, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(self.inplanes, eps=1e-05)
            self.prelu = nn.PReLU(self.inplanes)
            for i, (n, w) in enumerate(zip(layers, widths, strict=True)):
                setattr(self, f"layer{i + 1}", self._make_layer(w, n))
            self.bn2 = nn.BatchNorm2d(widths[-1], eps=1e-05)
            self.dropout = nn.Dropout(p=0, inplace=True)
            self.fc = nn.Linear(widths[-1] * self.fc_scale, num_features)
            self.features = nn.BatchNorm1d(num_features, eps=1e-05)
            nn.init.constant_(self.features.weight, 1.0)
            self.features.weight.requires_grad = False
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.normal_(m.weight, 0, 0.1)
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.constant_(m.weight, 1)
                    nn.init.constant_(m.bias, 0)

        def _make_layer(self, planes, blocks, stride=2):
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes, 1, stride=stride, bias=False),
                                       nn.BatchNorm2d(planes, eps=1e-05))
            seq = [IBasicBlock(self.inplanes, planes, stride, downsample)]
            self.inplanes = planes
            seq += [IBasicBlock(planes, planes) for _ in range(1, blocks)]
            return nn.Sequential(*seq)

        def forward(self, x):
            x = self.prelu(self.bn1(self.conv1(x)))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            x = self.dropout(torch.flatten(self.bn2(x), 1))
            return self.features(self.fc(x))

    return IResNet()


@pytest.fixture(scope="session")
def insightface_pth(tmp_path_factory) -> Path:
    """``backbone.pth`` as arcface_torch's ``train.py`` saves it (``backbone.module.state_dict()``
    of their IResNet after training: running statistics no longer the initial ones)."""
    import torch

    from .conftest_public import lively

    torch.manual_seed(11)
    model = lively(insightface_iresnet())
    p = tmp_path_factory.mktemp("insightface") / "backbone.pth"
    torch.save(model.state_dict(), p)
    return p


@pytest.fixture(scope="session")
def iresnet_pth(tmp_path_factory) -> Path:
    """An insightface-style training checkpoint: DataParallel ``module.`` prefix and a margin head."""
    import torch
    from featurizer.models.extractors._iresnet_arch import build

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
