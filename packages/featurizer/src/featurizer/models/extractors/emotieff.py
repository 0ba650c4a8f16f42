"""EmotiEffLib / HSEmotion face-affect models trained on AffectNet: ``emotieff-b0``
(EfficientNet-B0, 1280-d), ``emotieff-b2`` (EfficientNet-B2, 1408-d) and ``emotieff-mbf``
(MobileFaceNet, 512-d), including the valence/arousal multi-task variants (``*_va_mtl``).

Rows: the embedding before the emotion classifier (the "facial emotional features" the authors
recommend for video), or with ``NAME:scores`` the classifier's outputs: 7 or 8 emotion logits,
plus valence and arousal for the multi-task models (their names are stored as ``columns``).

Weights (``--weights NAME=SOURCE``), in the formats the authors publish:

- ``.onnx`` (``models/affectnet_emotions/onnx/*.onnx``; the default, by URL): run with
  onnxruntime (:mod:`.onnx_visual`), fp32;
- a state dict (``.pth``/``.safetensors``, e.g. ``torch.save(model.state_dict())`` of their
  model): loaded into timm's ``tf_efficientnet_b0``/``_b2`` (``classifier`` or ``classifier.0``
  head) or the project's MobileFaceNet (``fc`` head);
- their ``.pt`` files are whole pickled models: loading one runs code stored in the file, so it
  is refused unless the option ``allow_pickle`` is true; then only its state dict is kept.

Preprocessing as the authors' loaders: the crop resized (bilinear) to 224 (B0), 260 (B2) or 112
(MobileFaceNet, no resize), ``(x / 255 - mean) / std`` with ImageNet statistics (EfficientNets) or
0.5 (MobileFaceNet).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..registry import DEEP_OPTIONS, Extractor, Option, Timing, register

PER_FRAME = Timing("per_frame")
RECIPE = "1"
REPO = "https://github.com/sb-ai-lab/EmotiEffLib/raw/main/models/affectnet_emotions/onnx/"
EMOTIONS_8 = ("Anger", "Contempt", "Disgust", "Fear", "Happiness", "Neutral", "Sadness", "Surprise")
EMOTIONS_7 = ("Anger", "Disgust", "Fear", "Happiness", "Neutral", "Sadness", "Surprise")
IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
ALLOW_PICKLE = Option("allow_pickle", bool, "load a pickled whole model (their .pt files): this runs code "
                                            "stored in the file; only for files you trust")
OPTIONS = DEEP_OPTIONS + (ALLOW_PICKLE,)
HEAD_PREFIXES = ("classifier.0.", "classifier.", "fc.")


@dataclass(frozen=True)
class EmotiEffModel:
    name: str
    arch: str  # timm architecture, or "mobilefacenet"
    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    default_file: str
    dim: int
    n_scores: int  # of the default weights

    @property
    def default(self) -> str:
        return REPO + self.default_file


B0 = EmotiEffModel("emotieff-b0", "tf_efficientnet_b0", 224, *IMAGENET, "enet_b0_8_va_mtl.onnx", 1280, 10)
B2 = EmotiEffModel("emotieff-b2", "tf_efficientnet_b2", 260, *IMAGENET, "enet_b2_8.onnx", 1408, 8)
MBF = EmotiEffModel("emotieff-mbf", "mobilefacenet", 112, (0.5,) * 3, (0.5,) * 3, "mbf_va_mtl.onnx", 512, 10)


def score_columns(n: int) -> list[str] | None:
    """Names of a classifier's ``n`` outputs (AffectNet's 8 or 7 emotions; + valence, arousal)."""
    return {10: [*EMOTIONS_8, "valence", "arousal"], 8: list(EMOTIONS_8), 7: list(EMOTIONS_7)}.get(n)


def output_variant(n_scores: int) -> Any:
    def variant(value: str) -> dict[str, Any]:
        if value == "features":
            return {}
        if value == "scores":
            return {"dim": n_scores}
        raise ValueError("expected features or scores")

    return variant


def _build(m: EmotiEffModel) -> Any:
    if m.arch == "mobilefacenet":
        from ._mobilefacenet_arch import MobileFaceNet

        return MobileFaceNet()
    import timm

    return timm.create_model(m.arch, pretrained=False, num_classes=0)


def _split_head(sd: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(backbone state dict, head state dict ``weight``/``bias``) of a whole model's state dict."""
    for p in HEAD_PREFIXES:
        head = {k[len(p):]: v for k, v in sd.items() if k.startswith(p)}
        if set(head) == {"weight", "bias"}:
            return {k: v for k, v in sd.items() if not k.startswith(p)}, head
    return sd, {}


def load_emotieff(m: EmotiEffModel, weights: str | None, device: str | None, batch_size: int | None,
                  precision: str | None, output: str | None, allow_pickle: bool | None) -> Extractor:
    from ...core.device import resolve_device
    from ...errors import WeightsError
    from ..precision import resolve_precision
    from ..weights import resolve

    output = output or "features"
    res = resolve(m.name, weights, m.default)  # first: a missing download fails before torch loads
    dev = resolve_device(device)
    from ._torch_visual import Preprocess, default_batch_size

    pre = Preprocess(size=m.size, mean=m.mean, std=m.std, interpolation="bilinear")
    common = dict(name=m.name, modality="visual", timing=PER_FRAME, recipe_version=RECIPE,
                  weights_id=res.weights_id, weights_sha256=res.sha256,
                  layer="scores" if output == "scores" else "embedding",
                  batch_size=batch_size or default_batch_size(dev, 16, 256))
    if res.suffix == ".onnx":
        from ._onnx_visual import OnnxFaceExtractor, open_graph

        if resolve_precision(precision, dev, m.name, prefer_fp32=True) != "fp32":
            raise WeightsError(f"{m.name} --precision {precision}", "ONNX files run in the precision they "
                               "were exported in (fp32)", "use --precision fp32, or pass a state dict")
        g = open_graph(res.path, m.name, res.source, dev)
        if g.input_size:
            pre.size = g.input_size
        return OnnxFaceExtractor(**common, dim=g.n_scores if output == "scores" else g.feature_dim,
                                 graph=g, output=output, pre=pre, architecture=f"onnx {res.path.name}",
                                 columns=score_columns(g.n_scores) if output == "scores" else None)
    if res.kind not in ("file", "random"):
        raise WeightsError(f"{m.name} weights {res.source}", "expected an .onnx file or a state dict",
                           f"e.g. --weights {m.name}={m.default_file}")
    return _load_torch(m, res, dev, resolve_precision(precision, dev, m.name), output, bool(allow_pickle),
                       pre, common)


def _load_torch(m: EmotiEffModel, res: Any, dev: Any, prec: str, output: str, allow_pickle: bool,
                pre: Any, common: dict[str, Any]) -> Extractor:
    import torch

    from ...errors import WeightsError
    from ..precision import prepare_model
    from ..weights import load_into, load_state_dict_file
    from . import _mobilefacenet_arch as mobilefacenet_arch
    from ._torch_visual import HeadedFaceExtractor

    backbone = _build(m)
    dim = int(getattr(backbone, "num_features", 0) or backbone.features.layers[-1].num_features)
    if res.kind == "random":
        head_sd: dict[str, Any] = {}
        head = torch.nn.Linear(dim, m.n_scores)
    else:
        sd = load_state_dict_file(res.path, m.name, allow_pickle=allow_pickle,
                                  module_moves={"mobilefacenet": mobilefacenet_arch.__name__})
        sd, head_sd = _split_head(sd)
        load_into(backbone, sd, m.name, res.source, m.arch)
        head = None
        if head_sd:
            w = head_sd["weight"]
            head = torch.nn.Linear(int(w.shape[1]), int(w.shape[0]))
            head.load_state_dict(head_sd)
    if output == "scores" and head is None:
        raise WeightsError(f"{m.name}:scores weights {res.source}", "the checkpoint has no emotion classifier "
                           f"({', '.join(p.rstrip('.') for p in HEAD_PREFIXES)})", f"use {m.name} (features)")
    cnn = prepare_model(backbone, dev, channels_last=True)
    n_scores = int(head.out_features) if head is not None else 0
    return HeadedFaceExtractor(
        **common, dim=n_scores if output == "scores" else dim, model=cnn, device=dev, precision=prec,
        pre=pre, architecture=f"{'timm ' if m.arch != 'mobilefacenet' else ''}{m.arch}",
        head=prepare_model(head, dev) if head is not None else None, output=output,
        columns=score_columns(n_scores) if output == "scores" else None)


def _register(m: EmotiEffModel, desc: str) -> Any:
    def factory(weights: str | None = None, device: str | None = None, batch_size: int | None = None,
                precision: str | None = None, output: str | None = None,
                allow_pickle: bool | None = None) -> Extractor:
        return load_emotieff(m, weights, device, batch_size, precision, output, allow_pickle)

    return register(m.name, modality="visual", dim=m.dim, timing=PER_FRAME, recipe_version=RECIPE,
                    weights_source=m.default, needs_weights=True, variant_option="output",
                    variant=output_variant(m.n_scores), options=OPTIONS, trained_on="affect",
                    licence="Apache-2.0 (EmotiEffLib)", description=desc)(factory)


emotieff_b0 = _register(B0, "EmotiEffLib EfficientNet-B0 (AffectNet, valence/arousal multi-task) "
                            "emotional embedding, 1280-d")
emotieff_b2 = _register(B2, "EmotiEffLib EfficientNet-B2 (AffectNet, 8 emotions) emotional embedding, 1408-d")
emotieff_mbf = _register(MBF, "EmotiEffLib MobileFaceNet (AffectNet, valence/arousal multi-task) "
                              "emotional embedding, 512-d, on the 112x112 crop")
