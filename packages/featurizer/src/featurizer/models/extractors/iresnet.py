"""IResNet-100 face embeddings (512-d) on the 112x112 aligned crop: ``ires100`` and ``fau``.

``ires100`` takes an ArcFace-style checkpoint (insightface ``arcface_torch`` ``backbone.pth``);
``fau`` is the same architecture with an action-unit checkpoint. The architecture is the
project's own copy of insightface's layout (``iresnet_arch``); depth, widths and embedding size
are read from the checkpoint's tensor shapes and it must then match key for key. Input: RGB,
``(x / 255 - 0.5) / 0.5`` at 112x112, as arcface_torch's ``inference.py``. Output: the
``features`` BatchNorm1d embedding (not L2-normalised).
"""

from __future__ import annotations

import warnings

from ..registry import DEEP_OPTIONS, Extractor, Timing, register

PER_FRAME = Timing("per_frame")
RECIPE = "1"
DIM = 512
IRES_WHERE = ("get insightface arcface_torch's ms1mv3_arcface_r100_fp16/backbone.pth from its "
              "model zoo (recognition/arcface_torch)")
FAU_WHERE = "the paper's action-unit IResNet-100 checkpoint is not public: use your own AU-trained one"


def load_iresnet(name: str, weights: str | None, device: str | None, batch_size: int | None,
                 where: str, precision: str | None = None) -> Extractor:
    from ...core.device import resolve_device
    from ...errors import WeightsError
    from ..precision import prepare_model, resolve_precision
    from ..weights import (
        STATE_DICT_SUFFIXES,
        load_into,
        load_state_dict_file,
        match_state_dict,
        resolve,
    )

    res = resolve(name, weights, None, where=where)  # first: a missing file fails before torch loads
    dev = resolve_device(device)
    prec = resolve_precision(precision, dev, name)
    from ._iresnet_arch import INPUT_SIZE, build, config_from_state_dict, fuse_for_inference
    from ._torch_visual import Preprocess, TorchFaceExtractor, default_batch_size

    if res.kind == "random":
        model = build()
    else:
        files = [f for f in res.files if f.suffix.lower() in STATE_DICT_SUFFIXES]
        if len(files) != 1:
            raise WeightsError(f"{name} weights {res.source}", "expected one IResNet state-dict file",
                               f"pass the .pth itself: --weights {name}=PATH")
        sd = load_state_dict_file(files[0], name)
        sd, _ = match_state_dict(build().state_dict().keys(), sd)
        cfg = config_from_state_dict(sd)
        if cfg is None:
            raise WeightsError(f"{name} weights {res.source}",
                               "not an IResNet checkpoint (needs conv1, layer1-4 blocks, fc)",
                               f"pass an insightface-layout backbone with --weights {name}=PATH")
        model = build(cfg)
        load_into(model, sd, name, res.source, cfg.name)
        if cfg.layers != (3, 13, 30, 3):
            warnings.warn(f"{name}: the checkpoint is {cfg.name}, not iresnet100", stacklevel=2)
    arch = model.cfg.name
    model = prepare_model(fuse_for_inference(model.eval()), dev, channels_last=True)
    return TorchFaceExtractor(
        name=name, modality="visual", dim=model.cfg.num_features, timing=PER_FRAME,
        recipe_version=RECIPE, weights_id=res.weights_id, weights_sha256=res.sha256,
        layer="features", batch_size=batch_size or default_batch_size(dev, 16, 256),
        model=model, device=dev, architecture=arch, precision=prec,
        pre=Preprocess(size=INPUT_SIZE, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)))


@register("ires100", modality="visual", dim=DIM, timing=PER_FRAME, recipe_version=RECIPE,
          weights_hint="none public: --weights ires100=backbone.pth (insightface arcface_torch model zoo)",
          description="IResNet-100 (insightface layout) ArcFace-style face embedding",
          needs_weights=True, options=DEEP_OPTIONS, trained_on="faces",
          licence="insightface: non-commercial research", paper_weights_public=False)
def ires100(weights: str | None = None, device: str | None = None, batch_size: int | None = None,
            precision: str | None = None) -> Extractor:
    return load_iresnet("ires100", weights, device, batch_size, IRES_WHERE, precision)


@register("fau", modality="visual", dim=DIM, timing=PER_FRAME, recipe_version=RECIPE,
          weights_hint="none public: --weights fau=PATH (an action-unit IResNet-100 checkpoint)",
          description="IResNet-100 (insightface layout) with a facial action-unit checkpoint",
          needs_weights=True, options=DEEP_OPTIONS, trained_on="affect",
          licence="depends on the checkpoint", paper_weights_public=False)
def fau(weights: str | None = None, device: str | None = None, batch_size: int | None = None,
        precision: str | None = None) -> Extractor:
    return load_iresnet("fau", weights, device, batch_size, FAU_WHERE, precision)
