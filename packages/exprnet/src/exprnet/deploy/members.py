"""A bundle's members: each one's files (config, recorded features, normalisation statistics,
network weights or baseline classifier, all safetensors or text), written, loaded and checked
against the recipe's feature widths; and a modality fed as whole-feature dropout fed it."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from featurizer.core.files import atomic_write_bytes, atomic_write_json, atomic_write_text

from ..baseline.classifier import FrameClassifier
from ..config import RunConfig, build_config
from ..data.bank import FeatureBank, Standardizer
from ..data.batches import flag_groups, input_dim
from ..errors import BundleError
from ..models.blend import Blend, build_network, parse_blend
from ..postprocess.processor import PostProcessor, processor_from_dict
from ..prediction.predict import LoadedRun, Predictor
from .contents import MANIFEST
from .recipe import Recipe

META_KEY = "exprnet"  # the one safetensors metadata key of a bundle file
BLEND_TENSORS = "blend.safetensors"  # a blended network's partners (:mod:`exprnet.models.blend`)
# Member kinds beyond trained runs: kind -> loader(blobs, entry, recipe) -> Member (registered by
# their modules, e.g. :mod:`.pretrained`); such a member to be written has a ``write(folder)``.
MEMBER_KINDS: dict[str, Any] = {}


@dataclass
class Member:
    name: str
    folder: str  # relative to the bundle
    kind: str  # network or baseline
    encoder: str
    features: list[str]
    val_f1: float | None
    lr: LoadedRun
    calibration: PostProcessor | None  # applied to its probabilities before they are combined
    predictor: Predictor  # its network built once, at load


def _save_tensors(path: Path, arrays: dict[str, np.ndarray], meta: dict[str, str]) -> None:
    """safetensors with ``meta`` under one key (safetensors orders several keys at random; one key
    keeps a bundle of the same runs byte for byte the same)."""
    from safetensors.numpy import save

    data = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    atomic_write_bytes(path, save(data, metadata={META_KEY: json.dumps(meta, sort_keys=True)}))


def _stats_arrays(stats: Standardizer) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    return {"mean": stats.mean, "std": stats.std}, {"features": json.dumps(stats.features),
                                                    "dims": json.dumps(stats.dims)}


def write_member(root: Path, folder: str, lr: LoadedRun) -> dict[str, Any]:
    """One member's files under ``root/folder``; returns its manifest entry (without scores)."""
    if hasattr(lr, "write"):  # another member kind writes its own files
        return {**lr.write(root / folder), "folder": folder}
    d = root / folder
    d.mkdir(parents=True, exist_ok=True)
    atomic_write_text(d / "config.yaml", yaml.safe_dump(lr.cfg.to_dict(), sort_keys=False, default_flow_style=None))
    atomic_write_json(d / "features.json", lr.features or {})
    _save_tensors(d / "stats.safetensors", *_stats_arrays(lr.stats))
    if lr.classifier is not None:
        clf = lr.classifier
        arrays = {"classes": clf.classes.astype(np.int64)}
        for k, (w, b) in enumerate(zip(clf.weights, clf.biases, strict=True)):
            arrays[f"w{k}"], arrays[f"b{k}"] = w, b
        _save_tensors(d / "classifier.safetensors", arrays, {"kind": clf.kind})
        kind = "baseline"
    else:
        from safetensors.torch import save

        state = {k: v.detach().cpu().contiguous() for k, v in lr.state.items()}
        atomic_write_bytes(d / "weights.safetensors", save(state, metadata={"format": "pt"}))
        kind = "network"
        if lr.blend is not None:  # the network's partner (smooth.baseline: auto)
            _save_tensors(d / BLEND_TENSORS, {k: np.atleast_1d(v) for k, v in lr.blend.arrays().items()}, {})
    return {"name": Path(folder).name.split("-", 1)[-1], "folder": folder, "kind": kind,
            "encoder": lr.cfg.model_name, "features": list(lr.cfg.data.features),
            **({"blend": BLEND_TENSORS} if lr.classifier is None and lr.blend is not None else {})}


def _load_tensors(path: Path, data: bytes) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    from safetensors import SafetensorError
    from safetensors.numpy import load

    try:
        arrays = load(data)
        n = int.from_bytes(data[:8], "little")  # the format: 8-byte header size, then the JSON header
        meta = json.loads(json.loads(data[8:8 + n]).get("__metadata__", {}).get(META_KEY, "{}"))
    except (SafetensorError, ValueError, AttributeError) as e:
        raise BundleError(str(path), f"is not a readable safetensors file ({e})", "rebuild the bundle") from None
    return arrays, meta


def load_member(blobs: Any, entry: dict[str, Any], recipe: Recipe, device: str = "cpu") -> Member:
    """One member from the bundle's verified files (``blobs[rel]``: bytes, ``blobs.root``),
    checked against the recipe's widths; a network is built once, here, and predicts on ``device``."""
    if entry.get("kind") in MEMBER_KINDS:
        return MEMBER_KINDS[entry["kind"]](blobs, entry, recipe)
    root, folder = blobs.root, entry["folder"]
    d = root / folder
    cfg_path = f"{folder}/config.yaml"
    try:
        cfg = build_config(yaml.safe_load(blobs[cfg_path]), source=str(root / cfg_path)).resolved()
    except BundleError:
        raise
    except Exception as e:  # noqa: BLE001 - a config that no longer validates: say which file
        raise BundleError(str(root / cfg_path), f"is not a run config this exprnet reads ({e})") from None
    features = json.loads(blobs[f"{folder}/features.json"]) or None
    arrays, meta = _load_tensors(d / "stats.safetensors", blobs[f"{folder}/stats.safetensors"])
    stats = Standardizer(arrays["mean"], arrays["std"], json.loads(meta["features"]), json.loads(meta["dims"]))
    missing = [f for f in cfg.data.features if f not in recipe.models]
    if missing:
        raise BundleError(str(d), f"reads {', '.join(missing)}, which the recipe does not make", "rebuild the bundle")
    want = [recipe.feature(f).dim for f in cfg.data.features]
    if list(stats.dims) != want or stats.features != list(cfg.data.features):
        raise BundleError(str(d / "stats.safetensors"), f"is for features {stats.features} of widths {stats.dims}; "
                          f"the recipe makes widths {want}", "rebuild the bundle from matching runs")
    classifier, net, blend = None, None, None
    state: dict = {}
    if entry["kind"] == "baseline":
        rel = f"{folder}/classifier.safetensors"
        arr, meta = _load_tensors(root / rel, blobs[rel])
        n = sum(1 for k in arr if k.startswith("w"))
        classifier = FrameClassifier(meta.get("kind", "logreg"), arr["classes"], [arr[f"w{k}"] for k in range(n)],
                                     [arr[f"b{k}"] for k in range(n)])
        width = classifier.weights[0].shape[0]
    else:
        blend = None
        if entry.get("blend"):
            rel = f"{folder}/{BLEND_TENSORS}"
            blend = parse_blend(_load_tensors(root / rel, blobs[rel])[0], str(root / rel))
        state, net = _network(blobs, f"{folder}/weights.safetensors", cfg, entry.get("tasks") or ["expr"], blend)
        width = int(state["fusion.proj.weight"].shape[1])
    modalities = [recipe.feature(f).modality for f in cfg.data.features]
    expect = input_dim(sum(want), len(flag_groups(modalities, cfg.data.present_flags)))
    if width != expect:
        what = "classifier.safetensors" if classifier is not None else "weights.safetensors"
        raise BundleError(str(d / what), f"takes inputs of width {width}; the recipe's features make {expect}",
                          "rebuild the bundle from matching runs")
    lr = LoadedRun(cfg, stats, state, None, features, classifier, source=f"{root}/{folder}",
                   blend=None if classifier is not None else blend)
    cal = entry.get("calibration")
    calibration = None if cal is None else processor_from_dict(cal, f"{root / MANIFEST}: member {entry['name']}")
    return Member(entry["name"], folder, entry["kind"], entry.get("encoder", cfg.model_name), list(cfg.data.features),
                  entry.get("val_f1"), lr, calibration, Predictor(lr, device, net))


def _network(blobs: Any, rel: str, cfg: RunConfig, tasks: list[str], blend: Blend | None = None
             ) -> tuple[dict, Any]:
    """The state dict (torch tensors) and the member's network, built and loaded strictly with it
    (blended with its partner where the run had one)."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    root = blobs.root
    try:
        state = load(blobs[rel])
    except (SafetensorError, ValueError) as e:
        raise BundleError(str(root / rel), f"is not a readable safetensors file ({e})", "rebuild the bundle") from None
    w = state.get("fusion.proj.weight")
    if w is None:
        raise BundleError(str(root / rel), "holds no fusion layer (fusion.proj.weight)", "rebuild the bundle")
    try:
        net = build_network(int(w.shape[1]), cfg.model, tasks, state, blend)
    except RuntimeError as e:
        raise BundleError(str(root / rel), f"does not fit the member's network ({str(e).splitlines()[0]})",
                          "rebuild the bundle") from None
    return state, net


def dropped(bank: FeatureBank, stats: Standardizer, absent: dict[str, set[str]]) -> FeatureBank:
    """A copy of ``bank`` whose ``absent`` features (per track) hold the training mean, which
    standardises to zero, and are flagged absent: what whole-feature dropout fed the members in
    training (:mod:`exprnet.training.augment`)."""
    values, present = bank.values.copy(), bank.present.copy()
    cols = np.concatenate([[0], np.cumsum(bank.dims)]).astype(int)
    for track, feats in absent.items():
        if track not in bank.tracks:
            continue
        rows = bank.rows(bank.index(track))
        for j, f in enumerate(bank.features):
            if f in feats:
                c = slice(cols[j], cols[j + 1])
                values[rows, c] = ((stats.mean[c] - bank.offset[c]) * bank.scale[c]).astype(values.dtype)
                present[rows, j] = False  # and its present flag says absent, as dropout's did
    return replace(bank, values=values, present=present)
