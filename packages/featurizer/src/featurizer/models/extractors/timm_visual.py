"""timm face-crop extractors: ``densenet`` (DenseNet-121), ``mae`` (ViT-B/16 MAE encoder) and
``mobilenet`` (MobileNetV3-Large 1.0).

Models are built with ``timm.create_model(arch, pretrained=False, num_classes=0)`` and the state
dict is loaded here, strictly (``featurizer.models.weights``): no timm pickles, no hub access inside timm.
A weights SOURCE may be a timm hub id or hub-style folder (``config.json`` naming the
``architecture``, its ``model_args`` and ``pretrained_cfg``, plus ``model.safetensors`` or
``pytorch_model.bin``), or a bare state-dict file for the default architecture. Preprocessing
(input size, mean/std, interpolation) comes from the checkpoint's ``pretrained_cfg``, else from
timm's config of the architecture; the 112x112 crop is resized to the input size.
``NAME:SIZE`` (e.g. ``densenet:112``) runs at another input size.

Output: the pooled pre-classifier features (``forward`` with ``num_classes=0``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..registry import DEEP_OPTIONS, Extractor, Timing, register

PER_FRAME = Timing("per_frame")
RECIPE = "1"
TIMM_OPTIONS = DEEP_OPTIONS


@dataclass(frozen=True)
class TimmModel:
    name: str
    arch: str
    hub: str
    dim: int
    families: tuple[str, ...]
    channels_last: bool = True


DENSENET = TimmModel("densenet", "densenet121", "timm/densenet121.ra_in1k", 1024, ("densenet",))
MAE = TimmModel("mae", "vit_base_patch16_224", "timm/vit_base_patch16_224.mae", 768,
                ("vit_", "deit", "eva"), channels_last=False)
MOBILENET = TimmModel("mobilenet", "mobilenetv3_large_100", "timm/mobilenetv3_large_100.ra_in1k",
                      1280, ("mobilenet", "tf_mobilenet"))


def size_variant(value: str) -> dict[str, Any]:
    try:
        size = int(value)
    except ValueError:
        raise ValueError("expected an input size in pixels, e.g. 112") from None
    if not 16 <= size <= 1024:
        raise ValueError("input size must be 16-1024")
    return {}


def _hub_config(folder: Any) -> tuple[str | None, dict[str, Any], dict[str, Any]]:
    """(architecture, model_args, pretrained_cfg) of a timm hub-style ``config.json``."""
    from ..weights import read_json

    cfg = read_json(folder / "config.json")
    pcfg = dict(cfg.get("pretrained_cfg") or {k: v for k, v in cfg.items() if k != "architecture"})
    arch = cfg.get("architecture") or pcfg.get("architecture")
    args = {k: v for k, v in (cfg.get("model_args") or {}).items() if k not in ("num_classes", "pretrained")}
    return arch, args, pcfg


def load_timm(spec: TimmModel, weights: str | None, device: str | None, batch_size: int | None,
              input_size: int | str | None = None, precision: str | None = None) -> Extractor:
    from ...core.device import resolve_device
    from ...errors import WeightsError
    from ..precision import prepare_model, resolve_precision
    from ..weights import STATE_DICT_SUFFIXES, load_into, load_state_dict_file, resolve

    # weights first: a missing download fails at once, before the model libraries load
    res = resolve(spec.name, weights, spec.hub,
                  hub_patterns=(("config.json", "model.safetensors"), ("config.json", "pytorch_model.bin")))
    dev = resolve_device(device)
    prec = resolve_precision(precision, dev, spec.name)
    import timm

    from ._torch_visual import Preprocess, TorchFaceExtractor, default_batch_size

    arch, model_args, pcfg = spec.arch, {}, {}
    wfile = None
    if res.kind == "speechbrain":
        raise WeightsError(f"{spec.name} weights {res.source}", "is a speechbrain folder, not timm weights",
                           f"pass a timm hub folder or state dict with --weights {spec.name}=PATH")
    if res.kind == "hf_folder":
        arch, model_args, pcfg = _hub_config(res.path)
        arch = arch or spec.arch
        wfile = res.file("model.safetensors", "pytorch_model.bin")
        if wfile is None:
            found = [f for f in res.files if f.suffix.lower() in STATE_DICT_SUFFIXES]
            wfile = found[0] if len(found) == 1 else None
        if wfile is None:
            raise WeightsError(f"{spec.name} weights {res.source}", "folder has config.json but no "
                               "model.safetensors or pytorch_model.bin", f"--weights {spec.name}=PATH")
    elif res.kind == "file":
        wfile = res.path
    if not arch.startswith(spec.families):
        raise WeightsError(f"{spec.name} weights {res.source}", f"architecture {arch!r} is not a "
                           f"{'/'.join(spec.families)} model", f"the {spec.name} extractor runs {spec.arch}")
    size = int(input_size) if input_size else None
    extra = {"dynamic_img_size": True} if size and arch.startswith(("vit_", "deit", "eva")) else {}
    try:
        model = timm.create_model(arch, pretrained=False, num_classes=0, **model_args, **extra)
    except Exception as e:  # noqa: BLE001 - unknown arch or bad args in a config.json
        raise WeightsError(f"{spec.name} weights {res.source}", f"cannot build timm {arch!r} "
                           f"({type(e).__name__}: {e})", f"timm {timm.__version__} is installed") from None
    if wfile is not None:
        load_into(model, load_state_dict_file(wfile, spec.name), spec.name, res.source, f"timm {arch}")
    cfg = {**model.pretrained_cfg, **pcfg}
    size = size or int(cfg.get("input_size", (3, 224, 224))[-1])
    dim = int(getattr(model, "head_hidden_size", None) or model.num_features)
    model = prepare_model(model, dev, channels_last=spec.channels_last)
    return TorchFaceExtractor(
        name=spec.name, modality="visual", dim=dim, timing=PER_FRAME, recipe_version=RECIPE,
        weights_id=res.weights_id, weights_sha256=res.sha256, layer="pooled features",
        batch_size=batch_size or default_batch_size(dev, 8, 128), model=model, device=dev, precision=prec,
        channels_last=spec.channels_last, architecture=f"timm {arch}",
        pre=Preprocess(size=size, mean=tuple(cfg.get("mean", (0.485, 0.456, 0.406))),
                       std=tuple(cfg.get("std", (0.229, 0.224, 0.225))),
                       interpolation=str(cfg.get("interpolation", "bilinear"))))


@register("densenet", modality="visual", dim=DENSENET.dim, timing=PER_FRAME, recipe_version=RECIPE,
          weights_source=DENSENET.hub, needs_weights=True, variant_option="input_size",
          variant=size_variant, options=TIMM_OPTIONS, trained_on="imagenet", licence="Apache-2.0 (timm)",
          paper_weights_public=False, standin=True,
          description="timm DenseNet-121 ImageNet features (1024-d), standing in for the paper's "
                      "expression DenseNet (342-d, not public)")
def densenet(weights: str | None = None, device: str | None = None, batch_size: int | None = None,
             input_size: int | str | None = None, precision: str | None = None) -> Extractor:
    return load_timm(DENSENET, weights, device, batch_size, input_size, precision)


@register("mae", modality="visual", dim=MAE.dim, timing=PER_FRAME, recipe_version=RECIPE,
          weights_source=MAE.hub, needs_weights=True, variant_option="input_size",
          variant=size_variant, options=TIMM_OPTIONS, trained_on="imagenet", licence="CC-BY-NC-4.0 (MAE)",
          paper_weights_public=False, standin=True,
          description="timm ViT-B/16 MAE encoder pretrained on ImageNet (768-d), standing in for the "
                      "paper's face MAE (see mae-face)")
def mae(weights: str | None = None, device: str | None = None, batch_size: int | None = None,
        input_size: int | str | None = None, precision: str | None = None) -> Extractor:
    return load_timm(MAE, weights, device, batch_size, input_size, precision)


@register("mobilenet", modality="visual", dim=MOBILENET.dim, timing=PER_FRAME, recipe_version=RECIPE,
          weights_source=MOBILENET.hub, needs_weights=True, variant_option="input_size",
          variant=size_variant, options=TIMM_OPTIONS, trained_on="imagenet", licence="Apache-2.0 (timm)",
          paper_weights_public=False, standin=True,
          description="timm MobileNetV3-Large ImageNet features (1280-d), standing in for the "
                      "paper's MobileNet (512-d, not public)")
def mobilenet(weights: str | None = None, device: str | None = None, batch_size: int | None = None,
              input_size: int | str | None = None, precision: str | None = None) -> Extractor:
    return load_timm(MOBILENET, weights, device, batch_size, input_size, precision)
