"""``mae-face``: MAE-Face (Ma et al., ABAW5), a ViT-B/16 masked autoencoder pretrained on faces, 768-d.

Weights: the ``.pth`` files of github.com/FuxiVirtualHuman/MAE-Face's releases
(``mae_face_pretrain_vit_base.pth``): ``{"model": state dict}`` as MAE's ``main_pretrain.py``
saves it (encoder keys in timm's ViT layout, plus ``mask_token`` and ``decoder_*``, which are
dropped), or a fine-tuned checkpoint of their ``models_vit.VisionTransformer``. The encoder is
timm's ``VisionTransformer`` built from the checkpoint's shapes (width, depth, patch, image size;
heads = width / 64 as in MAE's presets) and loaded strictly.

Output, as their ``forward_features``: for a pretrained checkpoint (final ``norm``), the class
token after that norm (their recommendation for features without fine-tuning); for a checkpoint
fine-tuned with global pooling (``fc_norm``), the mean of the patch tokens through ``fc_norm``.
Preprocessing as MAE's eval transform: 224x224 (bicubic), ImageNet mean and std.
"""

from __future__ import annotations

import re
from typing import Any

from ..registry import DEEP_OPTIONS, Extractor, Timing, register

PER_FRAME = Timing("per_frame")
RECIPE = "1"
WHERE = ("download mae_face_pretrain_vit_base.pth from the releases of github.com/FuxiVirtualHuman/"
         "MAE-Face")
_BLOCK = re.compile(r"^blocks\.(\d+)\.")


def vit_args(sd: dict[str, Any]) -> dict[str, Any]:
    """timm ``VisionTransformer`` keyword arguments that fit an MAE encoder state dict."""
    proj = sd["patch_embed.proj.weight"]
    width, patch = int(proj.shape[0]), int(proj.shape[-1])
    depth = 1 + max(int(m.group(1)) for k in sd if (m := _BLOCK.match(k)))
    grid = round((int(sd["pos_embed"].shape[1]) - 1) ** 0.5)
    fc1 = sd.get("blocks.0.mlp.fc1.weight")
    mlp_ratio = int(fc1.shape[0]) / width if fc1 is not None else 4.0
    pooled = "fc_norm.weight" in sd
    return dict(img_size=grid * patch, patch_size=patch, embed_dim=width, depth=depth,
                num_heads=16 if width > 1024 else max(1, width // 64), mlp_ratio=mlp_ratio,
                qkv_bias="blocks.0.attn.qkv.bias" in sd, num_classes=0,
                global_pool="avg" if pooled else "token", fc_norm=pooled)


def load_mae_face(weights: str | None, device: str | None, batch_size: int | None,
                  precision: str | None) -> Extractor:
    from ..core.device import resolve_device
    from ..errors import WeightsError
    from ..precision import prepare_model, resolve_precision
    from ..weights import load_into, load_state_dict_file, resolve, strip_wrappers

    name = "mae-face"
    res = resolve(name, weights, None, where=WHERE)  # first: a missing file fails before torch loads
    dev = resolve_device(device)
    prec = resolve_precision(precision, dev, name)
    import timm
    from timm.models.vision_transformer import VisionTransformer

    from .torch_visual import Preprocess, TorchFaceExtractor, default_batch_size

    if res.kind == "random":
        model = timm.create_model("vit_base_patch16_224", pretrained=False, num_classes=0)
        pooled = False
    else:
        if res.kind != "file" or res.suffix == ".onnx":
            raise WeightsError(f"{name} weights {res.source}", "expected an MAE checkpoint (.pth)",
                               f"{WHERE}; --weights {name}=mae_face_pretrain_vit_base.pth")
        sd = strip_wrappers(load_state_dict_file(res.path, name))
        if "patch_embed.proj.weight" not in sd or "pos_embed" not in sd:
            raise WeightsError(f"{name} weights {res.source}", "not a ViT/MAE encoder checkpoint "
                               "(no patch_embed.proj.weight or pos_embed)", WHERE)
        args = vit_args(sd)
        pooled = args["fc_norm"]
        model = VisionTransformer(**args)
        load_into(model, sd, name, res.source, f"ViT {args['embed_dim']}x{args['depth']}")
    size = int(model.patch_embed.img_size[0])
    return TorchFaceExtractor(
        name=name, modality="visual", dim=int(model.num_features), timing=PER_FRAME,
        recipe_version=RECIPE, weights_id=res.weights_id, weights_sha256=res.sha256,
        layer="mean patch token, fc_norm" if pooled else "class token, norm",
        batch_size=batch_size or default_batch_size(dev, 8, 128), model=prepare_model(model, dev),
        device=dev, precision=prec, channels_last=False, architecture="timm VisionTransformer (MAE-Face)",
        pre=Preprocess(size=size, interpolation="bicubic"))


@register("mae-face", modality="visual", dim=768, timing=PER_FRAME, recipe_version=RECIPE,
          weights_hint=f"none by URL: {WHERE}", needs_weights=True, options=DEEP_OPTIONS,
          trained_on="faces", licence="MIT (MAE-Face repository)",
          description="MAE-Face ViT-B/16 masked autoencoder pretrained on faces (ABAW5/6 leaders), 768-d")
def mae_face(weights: str | None = None, device: str | None = None, batch_size: int | None = None,
             precision: str | None = None) -> Extractor:
    return load_mae_face(weights, device, batch_size, precision)
