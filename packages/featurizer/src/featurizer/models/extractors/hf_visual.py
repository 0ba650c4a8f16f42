"""General image encoders through transformers on the face crop: ``dinov2`` (DINOv2 ViT-L/14,
``Dinov2Model``) and ``clip`` (CLIP ViT-L/14 image tower, ``CLIPVisionModelWithProjection``).

Rows (``NAME:OUTPUT``):

- ``dinov2`` (``cls``): ``pooler_output``, the class token after the final layer norm (1024-d);
  ``dinov2:mean``: the mean of the patch tokens after that norm (registers excluded).
- ``clip`` (``embeds``): ``image_embeds``, the pooled class token projected into CLIP's joint
  image-text space (768-d for ViT-L/14); ``clip:pooled``: ``pooler_output``, the class token
  after ``post_layernorm``, before the projection (1024-d).

Weights: a Hugging Face folder or hub id (``config.json`` + weights; a full CLIP checkpoint's text
tower is not loaded). Preprocessing from its ``preprocessor_config.json`` (``image_mean``,
``image_std``, ``crop_size``, ``resample``): the aligned crop is resized straight to the crop size
(no shortest-edge resize and centre crop, which would cut the face's borders).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..registry import DEEP_OPTIONS, Extractor, Timing, register

PER_FRAME = Timing("per_frame")
RECIPE = "1"
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
RESAMPLE = {2: "bilinear", 3: "bicubic"}  # PIL codes in preprocessor configs


@dataclass(frozen=True)
class HFVision:
    name: str
    model_types: tuple[str, ...]
    cls: str  # transformers class
    default: str
    outputs: tuple[str, ...]  # the first is the default
    mean: tuple[float, ...]
    std: tuple[float, ...]
    ignored: tuple[str, ...] = ()  # checkpoint parts not loaded


DINOV2 = HFVision("dinov2", ("dinov2", "dinov2_with_registers"), "AutoModel", "facebook/dinov2-large",
                  ("cls", "mean"), *IMAGENET)
CLIP = HFVision("clip", ("clip", "clip_vision_model"), "CLIPVisionModelWithProjection",
                "openai/clip-vit-large-patch14", ("embeds", "pooled"), CLIP_MEAN, CLIP_STD,
                ignored=("text_model.", "text_projection", "logit_scale"))


def output_variant(v: HFVision, dims: dict[str, int]) -> Any:
    def variant(value: str) -> dict[str, Any]:
        if value not in v.outputs:
            raise ValueError(f"expected {' or '.join(v.outputs)}")
        return {"dim": dims[value]} if value in dims else {}

    return variant


def _random_model(v: HFVision) -> Any:
    """Real-size architectures for random weights (benchmarks): DINOv2-L/14, CLIP ViT-L/14."""
    import transformers

    if v is DINOV2:
        return transformers.Dinov2Model(transformers.Dinov2Config(
            hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, patch_size=14, image_size=518))
    return transformers.CLIPVisionModelWithProjection(transformers.CLIPVisionConfig(
        hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
        patch_size=14, image_size=224, projection_dim=768))


def _crop_size(pcfg: dict[str, Any], fallback: int) -> int:
    c = pcfg.get("crop_size", fallback)
    return int(c.get("height", fallback) if isinstance(c, dict) else c)


def load_hf_vision(v: HFVision, weights: str | None, device: str | None, batch_size: int | None,
                   precision: str | None, output: str | None) -> Extractor:
    from ...core.device import resolve_device
    from ..precision import prepare_model, resolve_precision
    from ..weights import resolve
    from ._hf_load import from_pretrained_checked, hf_config, not_a_folder, preprocessor_config

    output = output or v.outputs[0]
    res = resolve(v.name, weights, v.default, needs=("config.json",))  # first: fails before torch loads
    dev = resolve_device(device)
    prec = resolve_precision(precision, dev, v.name)
    import transformers

    from ._hf_visual_run import TransformersFaceExtractor
    from ._torch_visual import Preprocess, default_batch_size

    if res.kind == "random":
        model = _random_model(v)
    elif res.kind == "hf_folder":
        config = hf_config(res.path, v.name, res.source, v.model_types)
        kwargs = {}
        if config.model_type == "clip":  # the image tower's config, with the whole model's projection
            kwargs["config"] = config.vision_config
            kwargs["config"].projection_dim = config.projection_dim
        model = from_pretrained_checked(getattr(transformers, v.cls), res.path, v.name, res.source,
                                        config.model_type, ignored=v.ignored, **kwargs)
    else:
        raise not_a_folder(v.name, res.source, v.default)
    pcfg = preprocessor_config(res.path)
    vcfg = model.config
    size = _crop_size(pcfg, 224 if v is DINOV2 else int(vcfg.image_size))
    dim = int(vcfg.projection_dim if output == "embeds" else vcfg.hidden_size)
    return TransformersFaceExtractor(
        name=v.name, modality="visual", dim=dim, timing=PER_FRAME, recipe_version=RECIPE,
        weights_id=res.weights_id, weights_sha256=res.sha256, layer=output,
        batch_size=batch_size or default_batch_size(dev, 8, 128), model=prepare_model(model, dev),
        device=dev, precision=prec, channels_last=False, output=output,
        registers=int(getattr(vcfg, "num_register_tokens", 0) or 0),
        architecture=f"transformers {type(model).__name__}",
        pre=Preprocess(size=size, mean=tuple(pcfg.get("image_mean", v.mean)),
                       std=tuple(pcfg.get("image_std", v.std)),
                       interpolation=RESAMPLE.get(int(pcfg.get("resample", 3)), "bicubic")))


def _register(v: HFVision, dims: dict[str, int], trained: str, licence: str, desc: str) -> Any:
    def factory(weights: str | None = None, device: str | None = None, batch_size: int | None = None,
                precision: str | None = None, output: str | None = None) -> Extractor:
        return load_hf_vision(v, weights, device, batch_size, precision, output)

    return register(v.name, modality="visual", dim=dims[v.outputs[0]], timing=PER_FRAME,
                    recipe_version=RECIPE, weights_source=v.default, needs_weights=True,
                    variant_option="output", variant=output_variant(v, dims), options=DEEP_OPTIONS,
                    trained_on=trained, licence=licence, description=desc)(factory)


dinov2 = _register(DINOV2, {"cls": 1024, "mean": 1024}, "images", "Apache-2.0",
                   "DINOv2 ViT-L/14 (self-supervised, LVD-142M images) class token, 1024-d")
clip = _register(CLIP, {"embeds": 768, "pooled": 1024}, "images", "MIT (OpenAI CLIP)",
                 "CLIP ViT-L/14 image tower: image_embeds (projection, 768-d) by default")
