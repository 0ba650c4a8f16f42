"""Fixtures for the public face-affect and speech models, each saved in the format its authors
publish (so tests load them through ``--weights NAME=SOURCE`` like a user's download):

- EmotiEffLib: an EfficientNet-B0 / MobileFaceNet with a 10-way (8 emotions + valence, arousal)
  classifier, exported to ONNX as their ``convert_pt_to_onnx.py`` does (opset 11, input ``input``,
  dynamic batch), as a state dict, and as a whole pickled model (their ``.pt``), also as older
  timm releases pickled it (0.9.7's attributes; pre-0.9 module paths);
- MAE-Face: an MAE training checkpoint (``model``: encoder + decoder, ``mask_token``; ``optimizer``,
  ``epoch``, ``scaler``, ``args`` as an ``argparse.Namespace``);
- DINOv2, CLIP, Whisper, audeering's wav2vec 2.0 emotion model: Hugging Face folders written by
  ``save_pretrained`` (tiny configs), with their preprocessor configs.

Import into a test module: ``from .conftest_public import *  # noqa: F403``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

EMOTIEFF_SCORES = 10


def lively(model):
    """Trained-like batch-norm scales and statistics, so random models give non-vanishing features."""
    import torch

    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                mod.running_var.uniform_(0.5, 2.0)
                mod.running_mean.uniform_(-0.1, 0.1)
                mod.weight.uniform_(0.5, 1.5)
    return model


class EmotiEffNet:
    """Their model's shape: a backbone and a classifier; ``forward`` gives the classifier's output."""

    @staticmethod
    def b0():
        import timm
        import torch

        torch.manual_seed(0)
        return lively(timm.create_model("tf_efficientnet_b0", pretrained=False,
                                        num_classes=EMOTIEFF_SCORES).eval())

    @staticmethod
    def mbf():
        import torch
        from featurizer.models.extractors._mobilefacenet_arch import MobileFaceNet

        class MbfWithFc(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.backbone = MobileFaceNet()
                self.fc = torch.nn.Linear(512, EMOTIEFF_SCORES)

            def forward(self, x):
                return self.fc(self.backbone(x))

        torch.manual_seed(1)
        return lively(MbfWithFc().eval())


def export_onnx(model, path: Path, size: int) -> Path:
    """As EmotiEffLib's ``convert_pt_to_onnx.py`` (TorchScript exporter, opset 11)."""
    import torch

    torch.onnx.export(model, torch.randn(1, 3, size, size), str(path), dynamo=False, opset_version=11,
                      do_constant_folding=True, export_params=True, input_names=["input"],
                      output_names=["output"],
                      dynamic_axes={"input": {0: "batch_size"}, "output": {0: "batch_size"}})
    return path


def mbf_state_dict(model) -> dict:
    """Their ``mbf_va_mtl`` layout: MobileFaceNet keys at the top level plus ``fc``."""
    return {**model.backbone.state_dict(), **{f"fc.{k}": v for k, v in model.fc.state_dict().items()}}


# Attributes timm added to EfficientNet blocks after 0.9 (space-to-depth stems): a model pickled by
# timm 0.9.7 has none of them.
TIMM_LATER_ATTRS = ("conv_s2d", "bn_s2d")
# Module paths of timm before 0.9, as older pickles name them (timm.layers was timm.models.layers).
TIMM_OLD_PATHS = {b"ctimm.layers.": b"ctimm.models.layers.",
                  b"ctimm.models._efficientnet_blocks\n": b"ctimm.models.efficientnet_blocks\n"}


def save_legacy_timm_pickle(model, path: Path, old_paths: bool) -> Path:
    """``torch.save(model)`` as timm 0.9.7 wrote it (no attributes added since), and with
    ``old_paths`` also under pre-0.9 module paths (the pickle's GLOBAL opcodes renamed)."""
    import copy
    import zipfile

    import torch

    model = copy.deepcopy(model)
    for mod in model.modules():
        for a in TIMM_LATER_ATTRS:
            mod.__dict__.pop(a, None)
    torch.save(model, path)
    if old_paths:
        tmp = path.with_suffix(".new")
        with zipfile.ZipFile(path) as z, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as out:
            for info in z.infolist():
                data = z.read(info)
                if info.filename.endswith("data.pkl"):
                    for a, b in TIMM_OLD_PATHS.items():
                        data = data.replace(a, b)
                out.writestr(info.filename, data)
        tmp.replace(path)
    return path


@pytest.fixture(scope="session")
def emotieff_files(tmp_path_factory) -> dict[str, Path]:
    """``b0.onnx``, ``b0.pth`` (state dict), ``b0.pt`` (pickled whole model), ``b0.pt-0.9.7`` and
    ``b0.pt-0.6`` (pickled by older timm releases), ``mbf.onnx``, ``mbf.pth``."""
    import torch

    d = tmp_path_factory.mktemp("emotieff")
    b0, mbf = EmotiEffNet.b0(), EmotiEffNet.mbf()
    out = {"b0.onnx": export_onnx(b0, d / "enet_b0_8_va_mtl.onnx", 224),
           "mbf.onnx": export_onnx(mbf, d / "mbf_va_mtl.onnx", 112)}
    torch.save(b0.state_dict(), d / "enet_b0_8_va_mtl.pth")
    torch.save(b0, d / "enet_b0_8_va_mtl.pt")
    torch.save(mbf_state_dict(mbf), d / "mbf_va_mtl.pth")
    (d / "timm097").mkdir()
    (d / "timm06").mkdir()
    out.update({"b0.pth": d / "enet_b0_8_va_mtl.pth", "b0.pt": d / "enet_b0_8_va_mtl.pt",
                "b0.pt-0.9.7": save_legacy_timm_pickle(b0, d / "timm097" / "enet_b0_8_va_mtl.pt", False),
                "b0.pt-0.6": save_legacy_timm_pickle(b0, d / "timm06" / "enet_b0_8_va_mtl.pt", True),
                "mbf.pth": d / "mbf_va_mtl.pth"})
    return out


MAE_TINY = dict(img_size=224, patch_size=16, embed_dim=64, depth=2, num_heads=1, mlp_ratio=4.0)


def mae_args():
    """The ``args`` MAE's ``main_pretrain.py`` saves in its checkpoints (an argparse.Namespace)."""
    import argparse

    return argparse.Namespace(
        batch_size=64, epochs=800, accum_iter=1, model="mae_vit_base_patch16", input_size=224,
        mask_ratio=0.75, norm_pix_loss=True, weight_decay=0.05, lr=None, blr=1.5e-4, min_lr=0.0,
        warmup_epochs=40, data_path="/datasets/faces", output_dir="./output_dir", log_dir="./output_dir",
        device="cuda", seed=0, resume="", start_epoch=0, num_workers=10, pin_mem=True, world_size=8,
        local_rank=-1, dist_on_itp=False, dist_url="env://", distributed=True, rank=0, gpu=0,
        dist_backend="nccl")


@pytest.fixture(scope="session")
def mae_face_file(tmp_path_factory) -> Path:
    """An MAE pretraining checkpoint as ``util/misc.py`` ``save_model`` writes it: ``{"model":
    encoder + decoder + mask_token, "optimizer": AdamW state, "epoch", "scaler": GradScaler state,
    "args": argparse.Namespace}``."""
    import torch
    from timm.models.vision_transformer import VisionTransformer

    torch.manual_seed(2)
    enc = VisionTransformer(**MAE_TINY, num_classes=0)
    sd = dict(enc.state_dict())
    sd["mask_token"] = torch.zeros(1, 1, 32)
    sd["decoder_embed.weight"] = torch.randn(32, 64)
    sd["decoder_pos_embed"] = torch.randn(1, 197, 32)
    sd["decoder_blocks.0.norm1.weight"] = torch.ones(32)
    sd["decoder_pred.weight"] = torch.randn(768, 32)
    opt = torch.optim.AdamW(enc.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.05)
    enc(torch.zeros(1, 3, 224, 224)).sum().backward()
    with torch.no_grad():
        saved = {k: v.clone() for k, v in sd.items()}  # the weights before the step: the rows' oracle
    opt.step()
    scaler = {"scale": 65536.0, "growth_factor": 2.0, "backoff_factor": 0.5, "growth_interval": 2000,
              "_growth_tracker": 117}
    p = tmp_path_factory.mktemp("mae_face") / "mae_face_pretrain_vit_base.pth"
    torch.save({"model": saved, "optimizer": opt.state_dict(), "epoch": 799, "scaler": scaler,
                "args": mae_args()}, p)
    return p


def read_mae_model(path: Path) -> dict:
    """The checkpoint's ``model`` as MAE's own code reads it (``torch.load``), with its args allowed."""
    import argparse

    import torch

    with torch.serialization.safe_globals([argparse.Namespace]):
        return torch.load(path, map_location="cpu", weights_only=True)["model"]


@pytest.fixture(scope="session")
def dinov2_dir(tmp_path_factory) -> Path:
    import torch
    import transformers

    d = tmp_path_factory.mktemp("dinov2_tiny")
    torch.manual_seed(3)
    transformers.Dinov2Model(transformers.Dinov2Config(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, patch_size=14,
        image_size=56)).save_pretrained(d)
    # DINOv2's processor, with the crop at the tiny model's size (the real one: 256 -> crop 224)
    transformers.BitImageProcessor(size={"shortest_edge": 56}, crop_size={"height": 56, "width": 56},
                                   do_center_crop=True, resample=3, image_mean=[0.485, 0.456, 0.406],
                                   image_std=[0.229, 0.224, 0.225]).save_pretrained(d)
    return d


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory) -> Path:
    """A whole CLIP checkpoint (text and image towers), as openai/clip-vit-large-patch14 ships."""
    import torch
    import transformers

    d = tmp_path_factory.mktemp("clip_tiny")
    torch.manual_seed(4)
    cfg = transformers.CLIPConfig(
        text_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                         vocab_size=99, max_position_embeddings=16),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                           patch_size=14, image_size=56),
        projection_dim=24)
    transformers.CLIPModel(cfg).save_pretrained(d)
    transformers.CLIPImageProcessor(size={"shortest_edge": 56}, crop_size={"height": 56, "width": 56},
                                    resample=3).save_pretrained(d)
    return d


@pytest.fixture(scope="session")
def whisper_dir(tmp_path_factory) -> Path:
    """A whole Whisper checkpoint (``WhisperForConditionalGeneration``: ``model.encoder.*``,
    ``model.decoder.*``, ``proj_out``) and its feature extractor (80 mel bins)."""
    import torch
    import transformers

    d = tmp_path_factory.mktemp("whisper_tiny")
    torch.manual_seed(5)
    cfg = transformers.WhisperConfig(d_model=32, encoder_layers=2, encoder_attention_heads=2,
                                     decoder_layers=1, decoder_attention_heads=2, encoder_ffn_dim=64,
                                     decoder_ffn_dim=64, num_mel_bins=80, vocab_size=100,
                                     max_source_positions=1500, max_target_positions=32, pad_token_id=1,
                                     bos_token_id=2, eos_token_id=2, decoder_start_token_id=3)
    transformers.WhisperForConditionalGeneration(cfg).save_pretrained(d)
    transformers.WhisperFeatureExtractor(feature_size=80).save_pretrained(d)
    return d


def emotion_model_class():
    """audeering's ``EmotionModel`` exactly as its model card defines it (the test's oracle)."""
    import torch
    from transformers.models.wav2vec2.modeling_wav2vec2 import (
        Wav2Vec2Model,
        Wav2Vec2PreTrainedModel,
    )

    class RegressionHead(torch.nn.Module):
        def __init__(self, config):
            super().__init__()
            self.dense = torch.nn.Linear(config.hidden_size, config.hidden_size)
            self.dropout = torch.nn.Dropout(config.final_dropout)
            self.out_proj = torch.nn.Linear(config.hidden_size, config.num_labels)

        def forward(self, features):
            x = self.dropout(features)
            x = torch.tanh(self.dense(x))
            return self.out_proj(self.dropout(x))

    class EmotionModel(Wav2Vec2PreTrainedModel):
        def __init__(self, config):
            super().__init__(config)
            self.config = config
            self.wav2vec2 = Wav2Vec2Model(config)
            self.classifier = RegressionHead(config)
            self.post_init()

        def forward(self, input_values):
            hidden_states = self.wav2vec2(input_values)[0]
            pooled = torch.mean(hidden_states, dim=1)
            return pooled, self.classifier(pooled)

    return EmotionModel


@pytest.fixture(scope="session")
def emotion_dir(tmp_path_factory) -> Path:
    """audeering's layout: config (``id2label`` arousal, dominance, valence), ``wav2vec2.*`` and
    ``classifier.*`` tensors, and the processor config (``do_normalize``)."""
    import torch
    import transformers

    from .conftest_deep import tiny_speech_config

    d = tmp_path_factory.mktemp("w2v2_emotion")
    torch.manual_seed(6)
    cfg = tiny_speech_config("wav2vec2", do_stable_layer_norm=True, feat_extract_norm="layer",
                             conv_bias=True, num_labels=3, architectures=["Wav2Vec2ForSpeechClassification"],
                             id2label={0: "arousal", 1: "dominance", 2: "valence"},
                             label2id={"arousal": 0, "dominance": 1, "valence": 2})
    emotion_model_class()(cfg).eval().save_pretrained(d)
    transformers.Wav2Vec2FeatureExtractor(do_normalize=True, return_attention_mask=True).save_pretrained(d)
    return d


@pytest.fixture(scope="session")
def emotion_legacy_dir(emotion_dir, tmp_path_factory) -> Path:
    """The same model as audeering published it in 2022: ``pytorch_model.bin`` with the old
    weight-norm names (``weight_g``/``weight_v``), no safetensors."""
    import transformers

    from .conftest_deep import save_legacy_bin

    d = tmp_path_factory.mktemp("w2v2_emotion_bin")
    save_legacy_bin(emotion_model_class().from_pretrained(str(emotion_dir)).eval(), d)
    transformers.Wav2Vec2FeatureExtractor(do_normalize=True, return_attention_mask=True).save_pretrained(d)
    return d


@pytest.fixture(scope="session")
def clip_legacy_dir(clip_dir, tmp_path_factory) -> Path:
    """The CLIP checkpoint as openai/clip-vit-large-patch14's 2022 ``pytorch_model.bin``: the same
    tensors plus the persistent ``position_ids`` buffers transformers kept in state dicts then."""
    import shutil

    import torch
    from safetensors.torch import load_file

    d = tmp_path_factory.mktemp("clip_bin")
    for f in clip_dir.iterdir():
        if f.suffix == ".json":
            shutil.copy(f, d / f.name)
    sd = load_file(str(clip_dir / "model.safetensors"))
    for tower in ("text_model", "vision_model"):
        n = sd[f"{tower}.embeddings.position_embedding.weight"].shape[0]
        sd[f"{tower}.embeddings.position_ids"] = torch.arange(n).unsqueeze(0)
    torch.save(sd, d / "pytorch_model.bin")
    return d
