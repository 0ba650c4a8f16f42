"""A Keras mini-Xception HDF5 file (``model.save`` or ``save_weights``, Keras 2 layout) read with
h5py into the project's :class:`~.mini_xception_arch.MiniXception`: no TensorFlow.

Keras lists a model's layers in build order (``layer_names``; under ``model_weights`` in a whole
saved model). Every convolution's batch norm is the next batch norm in that order, so the weighted
layers read as: two stem convolutions, then per block two separable convolutions and the 1x1
residual convolution, then the biased classifier convolution. Widths, depth and classes are read
from the shapes; anything else is refused, naming what was found.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import WeightsError


@dataclass
class KerasLayer:
    name: str
    weights: dict[str, np.ndarray]  # "kernel", "depthwise_kernel", "gamma", ... -> array

    @property
    def kind(self) -> str:
        w = self.weights
        if "depthwise_kernel" in w:
            return "separable"
        if "kernel" in w and w["kernel"].ndim == 4:
            return "conv"
        if "moving_mean" in w:
            return "bn"
        return "other"


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def read_layers(path: Path, subject: str) -> list[KerasLayer]:
    """The file's layers with weights, in Keras's build order."""
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise WeightsError(subject, f"is not an HDF5 file ({str(e).splitlines()[0][:160]})",
                           "pass a Keras .hdf5 / .h5 file") from None
    with f:
        root = f["model_weights"] if "model_weights" in f else f
        if "layer_names" not in root.attrs:
            raise WeightsError(subject, "is HDF5 but not a Keras model or weights file (no layer_names)",
                               "pass a file written by Keras's model.save or save_weights")
        layers = []
        for name in (_text(n) for n in root.attrs["layer_names"]):
            g = root[name]
            names = [_text(n) for n in g.attrs.get("weight_names", [])]
            if names:
                layers.append(KerasLayer(name, {n.split("/")[-1].split(":")[0]: np.asarray(g[n]) for n in names}))
    return layers


def _conv(w: np.ndarray) -> np.ndarray:  # (kh, kw, in, out) -> (out, in, kh, kw)
    return np.ascontiguousarray(w.transpose(3, 2, 0, 1))


def _depthwise(w: np.ndarray) -> np.ndarray:  # (kh, kw, in, 1) -> (in, 1, kh, kw)
    return np.ascontiguousarray(w.transpose(2, 3, 0, 1))


def _bn(prefix: str, layer: KerasLayer) -> dict[str, np.ndarray]:
    w = layer.weights
    return {f"{prefix}.weight": w["gamma"], f"{prefix}.bias": w["beta"],
            f"{prefix}.running_mean": w["moving_mean"], f"{prefix}.running_var": w["moving_variance"]}


def _pairs(layers: list[KerasLayer], subject: str) -> list[tuple[KerasLayer, KerasLayer | None]]:
    """Each convolution with its batch norm (the next one in order; the classifier has none)."""
    out: list[tuple[KerasLayer, KerasLayer | None]] = []
    pending: KerasLayer | None = None
    for layer in layers:
        if layer.kind in ("conv", "separable"):
            if pending is not None:
                out.append((pending, None))
            pending = layer
        elif layer.kind == "bn" and pending is not None:
            out.append((pending, layer))
            pending = None
        elif layer.kind != "bn":
            raise WeightsError(subject, f"has a layer mini-Xception does not ({layer.name}: "
                               f"{', '.join(sorted(layer.weights))})", "pass a mini-Xception HDF5 file")
    if pending is not None:
        out.append((pending, None))
    return out


def mini_xception_state(path: Path, subject: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """(state dict for :class:`MiniXception`, its constructor arguments) from a Keras file."""
    pairs = _pairs(read_layers(path, subject), subject)
    kinds = "".join({"conv": "c", "separable": "s"}[c.kind] for c, _ in pairs)
    n_blocks = (len(kinds) - 3) // 3
    want = "cc" + "ssc" * n_blocks + "c"
    if n_blocks < 1 or kinds != want or pairs[-1][1] is not None or any(b is None for _, b in pairs[:-1]):
        raise WeightsError(subject, f"is not a mini-Xception (its convolutions read {kinds or 'none'}: c = conv, "
                           "s = separable; expected two stem convolutions, blocks of two separable and one "
                           "residual convolution, and a classifier)", "pass a mini-Xception HDF5 file")
    sd: dict[str, np.ndarray] = {}
    (c1, b1), (c2, b2) = pairs[0], pairs[1]
    for k, (c, b) in enumerate(((c1, b1), (c2, b2))):
        sd[f"stem.{2 * k}.0.weight"] = _conv(c.weights["kernel"])
        sd.update(_bn(f"stem.{2 * k}.1", b))  # type: ignore[arg-type]
    widths = []
    for i in range(n_blocks):
        (s1, sb1), (s2, sb2), (r, rb) = pairs[2 + 3 * i: 5 + 3 * i]
        for name, s, sb in (("sep1", s1, sb1), ("sep2", s2, sb2)):
            sd[f"blocks.{i}.{name}.depthwise.weight"] = _depthwise(s.weights["depthwise_kernel"])
            sd[f"blocks.{i}.{name}.pointwise.0.weight"] = _conv(s.weights["pointwise_kernel"])
            sd.update(_bn(f"blocks.{i}.{name}.pointwise.1", sb))  # type: ignore[arg-type]
        sd[f"blocks.{i}.residual.0.weight"] = _conv(r.weights["kernel"])
        sd.update(_bn(f"blocks.{i}.residual.1", rb))  # type: ignore[arg-type]
        widths.append(int(s2.weights["pointwise_kernel"].shape[-1]))
    head = pairs[-1][0].weights
    if "bias" not in head:
        raise WeightsError(subject, "has a classifier convolution without bias", "pass a mini-Xception HDF5 file")
    sd["classifier.weight"], sd["classifier.bias"] = _conv(head["kernel"]), head["bias"]
    args = {"widths": tuple(widths), "stem": int(c1.weights["kernel"].shape[-1]), "classes": int(head["bias"].shape[0])}
    return sd, args


def load_mini_xception(path: Path, subject: str) -> Any:
    """The :class:`MiniXception` of a Keras HDF5 file, loaded strictly (not folded)."""
    import torch

    from ._mini_xception_arch import MiniXception

    sd, args = mini_xception_state(path, subject)
    model = MiniXception(**args)
    try:
        model.load_state_dict({k: torch.from_numpy(np.asarray(v, np.float32)) for k, v in sd.items()}, strict=True)
    except RuntimeError as e:
        raise WeightsError(subject, f"does not fit mini-Xception ({str(e).splitlines()[0][:200]})",
                           "pass a mini-Xception HDF5 file") from None
    return model.eval()
