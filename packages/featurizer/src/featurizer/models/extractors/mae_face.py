"""``mae-face``: MAE-Face (Ma et al., ABAW5), a ViT-B/16 masked autoencoder pretrained on faces, 768-d.

Weights: the ``.pth`` files of github.com/FuxiVirtualHuman/MAE-Face's releases
(``mae_face_pretrain_vit_base.pth``): ``{"model": state dict}`` as MAE's ``main_pretrain.py``
saves it (encoder keys in timm's ViT layout, plus ``mask_token`` and ``decoder_*``, which are
dropped), or a fine-tuned checkpoint of their ``models_vit.VisionTransformer``. The encoder is
timm's ``VisionTransformer`` built from the checkpoint's shapes (width, depth, patch, image size;
heads = width / 64 as in MAE's presets) and loaded strictly.

Output, as their ``forward_features`` (option ``pool``): ``cls``, the class token after the final
``norm`` (their ``global_pool=False``, which their example recommends for the features of the
pretrained model without fine-tuning; the default for a pretrained checkpoint); ``mean``, the mean
of the patch tokens through ``fc_norm`` (their ``global_pool=True``, recommended there for
fine-tuning; the default for a checkpoint fine-tuned that way, which has ``fc_norm``). A pretrained
checkpoint has no ``fc_norm``: ``pool=mean`` then gives it a fresh one (unit scale, zero shift), as
their ``models_vit`` and MAE's ``main_finetune.py`` build it.
Preprocessing as MAE's eval transform: 224x224 (bicubic), ImageNet mean and std.
"""

from __future__ import annotations

import re
from typing import Any

from ..registry import DEEP_OPTIONS, Extractor, Option, Timing, register

PER_FRAME = Timing("per_frame")
RECIPE = "1"
WHERE = ("download mae_face_pretrain_vit_base.pth from the releases of github.com/FuxiVirtualHuman/"
         "MAE-Face")
_BLOCK = re.compile(r"^blocks\.(\d+)\.")
POOLS = ("cls", "mean")
POOL = Option("pool", str, "cls: class token after the final norm (default for a pretrained checkpoint); "
              "mean: mean patch token through fc_norm (default for one fine-tuned with global pooling)",
              choices=POOLS)
LAYERS = {"cls": "class token, norm", "mean": "mean patch token, fc_norm",
          "mean-fresh": "mean patch token, fc_norm (fresh: unit scale, zero shift)"}


def vit_args(sd: dict[str, Any], pool: str) -> dict[str, Any]:
    """timm ``VisionTransformer`` keyword arguments that fit an MAE encoder state dict, pooled as
    ``pool`` (``cls`` or ``mean``)."""
    proj = sd["patch_embed.proj.weight"]
    width, patch = int(proj.shape[0]), int(proj.shape[-1])
    depth = 1 + max(int(m.group(1)) for k in sd if (m := _BLOCK.match(k)))
    grid = round((int(sd["pos_embed"].shape[1]) - 1) ** 0.5)
    fc1 = sd.get("blocks.0.mlp.fc1.weight")
    mlp_ratio = int(fc1.shape[0]) / width if fc1 is not None else 4.0
    mean = pool == "mean"
    return dict(img_size=grid * patch, patch_size=patch, embed_dim=width, depth=depth,
                num_heads=16 if width > 1024 else max(1, width // 64), mlp_ratio=mlp_ratio,
                qkv_bias="blocks.0.attn.qkv.bias" in sd, num_classes=0,
                global_pool="avg" if mean else "token", fc_norm=mean)


def pooled_encoder(sd: dict[str, Any], pool: str | None, subject: str) -> tuple[dict[str, Any], str]:
    """The encoder's tensors for ``pool`` (None: the checkpoint's own, ``mean`` where it has
    ``fc_norm``) and the layer it gives; a fresh ``fc_norm`` for ``mean`` on a pretrained one."""
    import torch

    from ...errors import WeightsError

    tuned = "fc_norm.weight" in sd
    pool = pool or ("mean" if tuned else "cls")
    if pool == "cls":
        if "norm.weight" not in sd:
            raise WeightsError(subject, "pool=cls needs the final norm, which this checkpoint (fine-tuned "
                               "with global pooling: it has fc_norm) does not have",
                               "use --option mae-face.pool=mean")
        return {k: v for k, v in sd.items() if not k.startswith("fc_norm.")}, LAYERS["cls"]
    sd = {k: v for k, v in sd.items() if not k.startswith("norm.")}
    if tuned:
        return sd, LAYERS["mean"]
    width = int(sd["patch_embed.proj.weight"].shape[0])
    return {**sd, "fc_norm.weight": torch.ones(width), "fc_norm.bias": torch.zeros(width)}, LAYERS["mean-fresh"]


def load_mae_face(weights: str | None, device: str | None, batch_size: int | None,
                  precision: str | None, pool: str | None = None) -> Extractor:
    from ...core.device import resolve_device
    from ...errors import WeightsError
    from ..precision import prepare_model, resolve_precision
    from ..weights import load_into, load_state_dict_file, resolve, strip_wrappers

    name = "mae-face"
    res = resolve(name, weights, None, where=WHERE)  # first: a missing file fails before torch loads
    dev = resolve_device(device)
    prec = resolve_precision(precision, dev, name)
    import timm
    from timm.models.vision_transformer import VisionTransformer

    from ._torch_visual import Preprocess, TorchFaceExtractor, default_batch_size

    if res.kind == "random":
        mean = pool == "mean"
        model = timm.create_model("vit_base_patch16_224", pretrained=False, num_classes=0,
                                  global_pool="avg" if mean else "token", fc_norm=mean)
        layer = LAYERS["mean" if mean else "cls"]
    else:
        if res.kind != "file" or res.suffix == ".onnx":
            raise WeightsError(f"{name} weights {res.source}", "expected an MAE checkpoint (.pth)",
                               f"{WHERE}; --weights {name}=mae_face_pretrain_vit_base.pth")
        sd = strip_wrappers(load_state_dict_file(res.path, name))
        if "patch_embed.proj.weight" not in sd or "pos_embed" not in sd:
            raise WeightsError(f"{name} weights {res.source}", "not a ViT/MAE encoder checkpoint "
                               "(no patch_embed.proj.weight or pos_embed)", WHERE)
        sd, layer = pooled_encoder(sd, pool, f"{name} weights {res.source}")
        args = vit_args(sd, "mean" if "fc_norm.weight" in sd else "cls")
        model = VisionTransformer(**args)
        load_into(model, sd, name, res.source, f"ViT {args['embed_dim']}x{args['depth']}")
    size = int(model.patch_embed.img_size[0])
    return TorchFaceExtractor(
        name=name, modality="visual", dim=int(model.num_features), timing=PER_FRAME,
        recipe_version=RECIPE, weights_id=res.weights_id, weights_sha256=res.sha256,
        layer=layer,
        batch_size=batch_size or default_batch_size(dev, 8, 128), model=prepare_model(model, dev),
        device=dev, precision=prec, channels_last=False, architecture="timm VisionTransformer (MAE-Face)",
        pre=Preprocess(size=size, interpolation="bicubic"), details={"pool": "cls" if layer == LAYERS["cls"] else "mean"})


@register("mae-face", modality="visual", dim=768, timing=PER_FRAME, recipe_version=RECIPE,
          weights_hint=f"none by URL: {WHERE}", needs_weights=True, options=(*DEEP_OPTIONS, POOL),
          trained_on="faces", licence="MIT (MAE-Face repository)",
          description="MAE-Face ViT-B/16 masked autoencoder pretrained on faces (ABAW5/6 leaders), 768-d")
def mae_face(weights: str | None = None, device: str | None = None, batch_size: int | None = None,
             precision: str | None = None, pool: str | None = None) -> Extractor:
    return load_mae_face(weights, device, batch_size, precision, pool)
