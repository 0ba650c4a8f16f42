"""ECAPA-TDNN speaker embeddings (speechbrain) of a window centred on each label frame.

One embedding per window of ``window`` seconds (default 2 s), on the grid of
:mod:`.frame_windows` (every ``hop`` seconds, default ``window / 5``, interpolated to each
frame; windows shifted inside the audio at its ends). Windows go through
the checkpoint's own front end: ``compute_features`` (80-bin Fbank), ``mean_var_norm``
(per-window mean normalisation) and ``embedding_model``, as ``EncoderClassifier.encode_batch``.

``ecapatdnn:SECONDS`` sets the window (hop = window / 5). The public
``speechbrain/spkrec-ecapa-voxceleb`` embedding is 192-d (``lin_neurons: 192``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..registry import DEEP_OPTIONS, Extractor, Option, register
from ._frame_windows import WindowedExtractor, parse_window, window_timing

RECIPE = "1"
DEFAULT = "speechbrain/spkrec-ecapa-voxceleb"
DEFAULT_WINDOW = 2.0


def _variant(value: str) -> dict[str, Any]:
    return {"timing": window_timing(parse_window(value, DEFAULT_WINDOW))}


@dataclass
class Ecapa(WindowedExtractor):
    mods: Any = field(default=None, repr=False)  # compute_features, mean_var_norm, embedding_model
    architecture: str = ""

    def provenance(self) -> dict[str, Any]:
        return {**super().provenance(), "architecture": self.architecture}

    def embed(self, windows: np.ndarray) -> np.ndarray:
        """The front end (Fbank, mean normalisation) in float32, the embedding model in the
        extractor's precision (autocast)."""
        import torch

        from ..precision import autocast, inference, to_device

        with inference(self.device):
            x = to_device(torch.from_numpy(windows), self.device)
            lens = torch.ones(len(x), device=self.device)
            feats = self.mods.mean_var_norm(self.mods.compute_features(x), lens)
            with autocast(self.device, self.precision):
                emb = self.mods.embedding_model(feats, lens)
            return emb.reshape(len(x), -1).float().cpu().numpy()


def _strict_check(hparams: dict[str, Any], name: str, source: str) -> None:
    """speechbrain loads checkpoints non-strictly (warnings only): check the embedding model's.

    (Modules with their own savers, such as a global ``InputNormalization``, are not ours to use.)
    """
    from speechbrain.utils.checkpoints import torch_patched_state_dict_load

    from ...errors import WeightsError
    from ..weights import check_state_dict

    pre = hparams.get("pretrainer")
    obj = hparams.get("embedding_model")
    path = pre.paths.get("embedding_model") if pre is not None else None
    if obj is None or path is None or "embedding_model" not in pre.loadables:
        raise WeightsError(f"{name} weights {source}", "hyperparams.yaml loads no embedding_model "
                           "checkpoint", "expected the layout of speechbrain/spkrec-ecapa-voxceleb")
    sd = torch_patched_state_dict_load(path, "cpu")
    check_state_dict(obj.state_dict(), sd, name, f"{source} (embedding_model.ckpt)", type(obj).__name__)


def load_ecapa(weights: str | None, device: str | None, batch_size: int | None,
               window: str | float | None, hop: float | None, precision: str | None = None) -> Extractor:
    from ...core.device import is_cuda, resolve_device
    from ...errors import WeightsError
    from ..precision import prepare_model, resolve_precision
    from ..weights import resolve

    try:
        win = parse_window(window, DEFAULT_WINDOW)
    except ValueError as e:
        raise WeightsError(f"ecapatdnn:{window}", str(e)) from None
    res = resolve("ecapatdnn", weights, DEFAULT, needs=("hyperparams.yaml",),
                  hub_patterns=(("*.yaml", "*.ckpt", "*.txt"),))  # first: fails before torch loads
    dev = resolve_device(device)
    prec = resolve_precision(precision, dev, "ecapatdnn", prefer_fp32=True)
    if res.kind == "random":
        import torch
        from speechbrain.lobes.features import Fbank
        from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN
        from speechbrain.processing.features import InputNormalization

        mods = torch.nn.ModuleDict({
            "compute_features": Fbank(n_mels=80),
            "mean_var_norm": InputNormalization(norm_type="sentence", std_norm=False),
            "embedding_model": ECAPA_TDNN(80, channels=[1024, 1024, 1024, 1024, 3072], lin_neurons=192),
        })
    elif res.kind == "speechbrain":
        import torch
        from speechbrain.inference.classifiers import EncoderClassifier

        text = (res.path / "hyperparams.yaml").read_text()
        overrides = {"pretrained_path": str(res.path)} if "\npretrained_path:" in "\n" + text else {}
        try:
            clf = EncoderClassifier.from_hparams(source=str(res.path), overrides=overrides,
                                                 run_opts={"device": "cpu"})
        except Exception as e:  # noqa: BLE001 - yaml, missing files, bad checkpoints
            raise WeightsError(f"ecapatdnn weights {res.source}", f"speechbrain cannot load this folder "
                               f"({type(e).__name__}: {str(e).splitlines()[0][:300]})",
                               "pass a folder like speechbrain/spkrec-ecapa-voxceleb") from None
        _strict_check(clf.hparams.__dict__ if hasattr(clf.hparams, "__dict__") else dict(clf.hparams),
                      "ecapatdnn", res.source)
        mods = torch.nn.ModuleDict({k: clf.mods[k] for k in
                                    ("compute_features", "mean_var_norm", "embedding_model")})
    else:
        raise WeightsError(f"ecapatdnn weights {res.source}", "expected a speechbrain folder "
                           "(hyperparams.yaml + embedding_model.ckpt)", f"e.g. --weights ecapatdnn={DEFAULT}")
    emb = mods["embedding_model"]
    dim = int(emb.fc.conv.out_channels) if hasattr(emb, "fc") else _probe_dim(mods)
    mods = prepare_model(mods, dev)
    return Ecapa(name="ecapatdnn", modality="audio", dim=dim, timing=window_timing(win, hop), precision=prec,
                 recipe_version=RECIPE, weights_id=res.weights_id, weights_sha256=res.sha256,
                 layer="embedding", batch_size=batch_size or (64 if is_cuda(dev) else 8),
                 mods=mods, device=dev, architecture=f"speechbrain {type(emb).__name__}")


def _probe_dim(mods: Any) -> int:
    import torch

    with torch.inference_mode():
        x = torch.zeros(1, 16000)
        f = mods["mean_var_norm"](mods["compute_features"](x), torch.ones(1))
        return int(mods["embedding_model"](f, torch.ones(1)).shape[-1])


@register("ecapatdnn", modality="audio", dim=192, timing=window_timing(DEFAULT_WINDOW), recipe_version=RECIPE,
          weights_source=DEFAULT, needs_weights=True, variant_option="window", variant=_variant,
          options=DEEP_OPTIONS + (Option("hop", float, "seconds between embedded windows"),),
          trained_on="speech", licence="Apache-2.0", paper_weights_public=False, standin=True,
          description="speechbrain ECAPA-TDNN speaker embedding (VoxCeleb, 192-d; the paper's 512-d "
                      "checkpoint is not public) of a 2 s window around each frame")
def ecapatdnn(weights: str | None = None, device: str | None = None, batch_size: int | None = None,
              window: str | float | None = None, hop: float | None = None,
              precision: str | None = None) -> Extractor:
    return load_ecapa(weights, device, batch_size, window, hop, precision)
