"""State dicts: read from files (never running code from them unless asked), unwrapped from
training-script containers, matched to a model's keys and loaded strictly."""

from __future__ import annotations

import json
import os
import pickle
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import WeightsError

# Wrapper keys under which training scripts save the model's state dict.
CONTAINER_KEYS = ("state_dict", "model_state_dict", "backbone_state_dict", "model", "net",
                  "params", "module", "ema", "model_ema")
# Wrapper prefixes stripped from every key (DataParallel/DDP, backbone-and-head trainers).
WRAPPER_PREFIXES = ("module.", "_orig_mod.")
BACKBONE_PREFIXES = ("backbone.", "encoder.", "model.")
# Module paths of old timm releases, as pickled models name them, and where they live now.
TIMM_MOVES = {"timm.models.layers": "timm.layers",
              "timm.models.efficientnet_blocks": "timm.models._efficientnet_blocks",
              "timm.models.efficientnet_builder": "timm.models._efficientnet_builder"}


def converted_path(path: Path) -> Path:
    """Where a converted state dict of ``path`` goes (beside it, never over it)."""
    return path.with_name(f"{path.stem}.state_dict.pth")


def pickle_hint(extractor: str, path: Path, takes_allow_pickle: bool) -> str:
    """How to get a plain state dict out of a file that pickles more than tensors (true for a
    whole model, which has ``state_dict()``, and for a training container with ``model`` or
    ``state_dict``)."""
    convert = (f"convert it once where you trust it: python -c \"import torch; c = torch.load('{path}', "
               f"weights_only=False); torch.save(c.state_dict() if hasattr(c, 'state_dict') else "
               f"{{k: v for k, v in c.items() if k in ('model', 'state_dict')}}, '{converted_path(path)}')\"")
    if takes_allow_pickle:
        return f"{convert}, or, if you trust the file, pass the {extractor} option allow_pickle=true"
    return convert


def plain_globals() -> list[Any]:
    """Plain data types training scripts pickle beside the weights, which torch's weights-only
    unpickler may build (it runs no code from the file for them): ``argparse.Namespace`` (MAE's
    ``args``), numpy scalars, arrays and dtypes (a best score; torchvggish's PCA parameters)."""
    import argparse

    import numpy as np

    multiarray = (getattr(np, "_core", None) or np.core).multiarray
    dtypes = [type(np.dtype(t)) for t in ("float16", "float32", "float64", "int32", "int64", "bool")]
    # files written under numpy 1 name these by their old module path
    old = [(f, f"numpy.core.multiarray.{f.__name__}") for f in (multiarray.scalar, multiarray._reconstruct)]
    return [argparse.Namespace, multiarray.scalar, multiarray._reconstruct, *old, np.ndarray, np.dtype,
            *dtypes]


def _global_name(g: Any) -> str:
    return g[1] if isinstance(g, tuple) else f"{g.__module__}.{g.__qualname__}"


def _pickle_order(path: Path) -> list[str]:
    """Globals in the order a torch zip file's pickle names them (the outermost object's class
    first), read with ``pickletools``, nothing run."""
    import pickletools
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            data = z.read(next(n for n in z.namelist() if n.endswith("data.pkl")))
        return [str(arg).replace(" ", ".") for op, arg, _ in pickletools.genops(data) if op.name == "GLOBAL"]
    except Exception:  # noqa: BLE001 - not a zip, or another protocol: no order
        return []


def unsafe_globals(path: Path) -> list[str]:
    """The classes and functions a torch file pickles beyond the allowed ones (read, not run),
    the outermost first."""
    import torch

    allowed = {_global_name(g) for g in plain_globals()}
    try:
        found = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    except Exception:  # noqa: BLE001 - a legacy (non-zip) torch file: not listed
        return []
    order = {g: i for i, g in reversed(list(enumerate(_pickle_order(path))))}
    return sorted((g for g in found if g not in allowed), key=lambda g: order.get(g, len(order)))


def load_state_dict_file(path: str | os.PathLike, extractor: str = "weights", *,
                         allow_pickle: bool | None = None,
                         module_moves: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Tensors of a ``.safetensors`` or torch file, unwrapped.

    torch files load with ``weights_only=True``, with :func:`plain_globals` allowed (training
    checkpoints such as MAE's ``{'model', 'optimizer', 'epoch', 'scaler', 'args'}`` load as they
    are). A file that pickles anything else (a whole model, ``torch.save(model)``) runs code stored
    in it when loaded, so it is refused unless ``allow_pickle`` (None: the extractor has no such
    option); then it is unpickled (module paths renamed per ``module_moves`` and
    :data:`TIMM_MOVES`) and only its ``state_dict()`` is kept.
    """
    import torch

    p = Path(path)
    try:
        if p.suffix.lower() == ".safetensors":
            from safetensors.torch import load_file

            sd: Any = load_file(str(p))
        else:
            with torch.serialization.safe_globals(plain_globals()):
                sd = torch.load(str(p), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        if not allow_pickle:
            found = unsafe_globals(p)
            what = (f" ({', '.join(found[:3])}{f', +{len(found) - 3} more' if len(found) > 3 else ''})"
                    if found else "")
            raise WeightsError(f"{extractor} weights {p}", f"pickles objects other than tensors and plain "
                               f"data{what}: loading it runs code stored in the file",
                               pickle_hint(extractor, p, allow_pickle is not None)) from None
        sd = load_pickled(p, extractor, {**TIMM_MOVES, **(module_moves or {})})
    except Exception as e:  # noqa: BLE001
        raise WeightsError(f"{extractor} weights {p}", f"cannot read state dict ({type(e).__name__}: "
                           f"{str(e).splitlines()[0][:200] if str(e) else ''})",
                           "save it with torch.save(model.state_dict()) or safetensors") from None
    return unwrap_state_dict(sd, extractor, p)


def _renaming_pickle(moves: Mapping[str, str]) -> types.ModuleType:
    """A ``pickle_module`` for ``torch.load`` whose unpickler finds classes at their new paths."""

    def moved(module: str) -> str:
        for old, new in moves.items():
            if module == old or module.startswith(old + "."):
                return new + module[len(old):]
        return module

    class Unpickler(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            return super().find_class(moved(module), name)

    mod = types.ModuleType("featurizer_renaming_pickle")
    mod.Unpickler = Unpickler  # type: ignore[attr-defined]
    mod.load = pickle.load  # type: ignore[attr-defined]
    return mod


def load_pickled(path: Path, extractor: str, moves: Mapping[str, str]) -> Any:
    """Unpickle a whole saved model (runs code from the file: only behind ``allow_pickle``)."""
    import torch

    try:
        return torch.load(str(path), map_location="cpu", weights_only=False,
                          pickle_module=_renaming_pickle(moves))
    except Exception as e:  # noqa: BLE001 - classes missing or changed in this library version
        raise WeightsError(f"{extractor} weights {path}", f"cannot unpickle this model with the installed "
                           f"libraries ({type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''})",
                           "convert it to a state dict where it was made (torch.save(model.state_dict(), "
                           "F)), or use the model's ONNX file") from None


def _is_tensor_map(obj: Any) -> bool:
    import torch

    return isinstance(obj, Mapping) and bool(obj) and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def unwrap_state_dict(obj: Any, extractor: str = "weights", path: Path | None = None) -> dict[str, Any]:
    """A checkpoint's state dict: itself, or the tensor map under a training-script wrapper key."""
    import torch

    if hasattr(obj, "state_dict") and callable(obj.state_dict) and not isinstance(obj, Mapping):
        obj = obj.state_dict()
    if isinstance(obj, Mapping):  # numpy arrays saved as parameters (torchvggish's PCA file)
        import numpy as np

        obj = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) and v.dtype.kind in "fiub" else v
               for k, v in obj.items()}
    if _is_tensor_map(obj):
        return dict(obj)
    if isinstance(obj, Mapping):
        for k in CONTAINER_KEYS:
            if k in obj and _is_tensor_map(obj[k]):
                return dict(obj[k])
        tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
        if tensors:
            return tensors
    raise WeightsError(f"{extractor} weights {path or ''}".strip(), "holds no state dict (a map of "
                       "parameter names to tensors)", "save it with torch.save(model.state_dict())")


@dataclass
class LoadReport:
    stripped: list[str] = field(default_factory=list)  # prefixes removed
    dropped: list[str] = field(default_factory=list)  # extra keys of heads the model does not have


def _strip(sd: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {k[len(prefix):] if k.startswith(prefix) else k: v for k, v in sd.items()}


def strip_wrappers(sd: dict[str, Any], report: LoadReport | None = None) -> dict[str, Any]:
    """``sd`` without a wrapper prefix (``module.``, ``_orig_mod.``) that every key carries."""
    for p in WRAPPER_PREFIXES:
        if sd and all(k.startswith(p) for k in sd):
            sd = _strip(sd, p)
            if report is not None:
                report.stripped.append(p)
    return sd


def _top(key: str) -> str:
    return key.split(".", 1)[0]


def match_state_dict(model_keys: Iterable[str], sd: dict[str, Any]) -> tuple[dict[str, Any], LoadReport]:
    """Strip wrapper prefixes (``module.``, ``backbone.``...) and drop heads the model lacks.

    Prefixes go when every key carries them (``module.``) or when only the keys under them match
    the model (``backbone.`` + a head). Keys whose top-level module the model does not have at all
    (a classifier, an AU head, a margin loss) are dropped and reported; everything else is left
    for :func:`check_state_dict` to judge.
    """
    want = set(model_keys)
    rep = LoadReport()
    sd = strip_wrappers(sd, rep)
    if not (want & set(sd)):
        for p in BACKBONE_PREFIXES:
            sub = {k[len(p):]: v for k, v in sd.items() if k.startswith(p)}
            if sub and (want & set(sub)):
                rep.stripped.append(p)
                rep.dropped += sorted(k for k in sd if not k.startswith(p))
                sd = sub
                break
    tops = {_top(k) for k in want}
    extra = [k for k in sd if k not in want and _top(k) not in tops]
    if extra and (want & set(sd)):
        rep.dropped += sorted(extra)
        sd = {k: v for k, v in sd.items() if k not in set(extra)}
    return sd, rep


def check_state_dict(model_sd: Mapping[str, Any], sd: Mapping[str, Any], extractor: str,
                     source: str, arch: str) -> None:
    """Raise a WeightsError listing missing, unexpected and wrongly shaped keys, if any."""
    missing = [k for k in model_sd if k not in sd and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in sd if k not in model_sd]
    shapes = [f"{k} {tuple(sd[k].shape)} vs {tuple(model_sd[k].shape)}" for k in model_sd
              if k in sd and hasattr(sd[k], "shape") and tuple(sd[k].shape) != tuple(model_sd[k].shape)]
    if not (missing or unexpected or shapes):
        return

    def some(keys: list[str]) -> str:
        return ", ".join(keys[:8]) + (f", ... (+{len(keys) - 8})" if len(keys) > 8 else "")

    parts = []
    if missing:
        parts.append(f"{len(missing)} missing: {some(missing)}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected: {some(unexpected)}")
    if shapes:
        parts.append(f"{len(shapes)} with another shape (checkpoint vs model): {some(shapes)}")
    raise WeightsError(f"{extractor} weights {source}",
                       f"state dict does not match {arch} ({'; '.join(parts)})",
                       f"pass a checkpoint of this architecture with --weights {extractor}=PATH")


def load_into(model: Any, sd: dict[str, Any], extractor: str, source: str, arch: str) -> LoadReport:
    """Load ``sd`` into ``model`` strictly after prefix and head handling."""
    model_sd = model.state_dict()
    sd, rep = match_state_dict(model_sd.keys(), sd)
    check_state_dict(model_sd, sd, extractor, source, arch)
    model.load_state_dict(sd, strict=False)  # only num_batches_tracked may be absent here
    return rep


def read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise WeightsError(path, f"cannot read ({e})") from None
