"""Loading Hugging Face ``transformers`` checkpoints strictly: a missing tensor is an error that
lists it (never a silent random init); heads the extractor does not use are ignored.

Imports transformers only inside functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ...errors import WeightsError

# Checkpoint parts no extractor here uses: pretraining and task heads, other towers.
IGNORED_UNEXPECTED = ("lm_head.", "quantizer.", "project_q.", "project_hid.", "final_proj.",
                      "label_embs_concat", "classifier.", "projector.", "dropout_features")


def from_pretrained_checked(cls: Any, folder: Path, name: str, source: str, model_type: str,
                            ignored: Sequence[str] = IGNORED_UNEXPECTED, **kwargs: Any) -> Any:
    """``cls.from_pretrained(folder)`` with transformers' own mismatch report silenced and ours
    raised instead (:func:`check_loading_info`)."""
    import transformers

    tlog = transformers.utils.logging
    bars, verbosity = tlog.is_progress_bar_enabled(), tlog.get_verbosity()
    tlog.disable_progress_bar()
    tlog.set_verbosity_error()
    try:
        model, info = cls.from_pretrained(str(folder), output_loading_info=True, **kwargs)
    except Exception as e:  # noqa: BLE001 - shape mismatches and corrupt files land here
        raise WeightsError(f"{name} weights {source}", f"cannot load ({type(e).__name__}: "
                           f"{str(e).splitlines()[0][:300] if str(e) else ''})",
                           f"--weights {name}=PATH") from None
    finally:
        tlog.set_verbosity(verbosity)
        if bars:
            tlog.enable_progress_bar()
    check_loading_info(info, name, source, model_type, ignored)
    return model


def check_loading_info(info: dict[str, Any], name: str, source: str, model_type: str,
                       ignored: Sequence[str] = IGNORED_UNEXPECTED) -> None:
    """Raise a WeightsError listing missing, unexpected and wrongly shaped tensors, if any."""
    missing = sorted(k for k in info.get("missing_keys", ()) if "masked_spec_embed" not in k)
    unexpected = sorted(k for k in info.get("unexpected_keys", ()) if not any(p in k for p in ignored))
    mismatched = sorted(str(k[0]) if isinstance(k, tuple) else str(k)
                        for k in info.get("mismatched_keys", ()))
    if not (missing or unexpected or mismatched):
        return

    def some(keys: list[str]) -> str:
        return ", ".join(keys[:8]) + (f", ... (+{len(keys) - 8})" if len(keys) > 8 else "")

    parts = [f"{len(v)} {k}: {some(v)}" for k, v in
             (("missing", missing), ("unexpected", unexpected), ("with another shape", mismatched)) if v]
    raise WeightsError(f"{name} weights {source}", f"checkpoint does not match its {model_type} "
                       f"config ({'; '.join(parts)})", f"pass a complete {model_type} checkpoint "
                       f"with --weights {name}=PATH")


def hf_config(folder: Path, name: str, source: str, model_types: Sequence[str]) -> Any:
    """The folder's ``AutoConfig``; its ``model_type`` must be one of ``model_types``."""
    import transformers

    try:
        config = transformers.AutoConfig.from_pretrained(str(folder))
    except Exception as e:  # noqa: BLE001
        raise WeightsError(f"{name} weights {source}", f"config.json cannot be read ({type(e).__name__}: "
                           f"{str(e).splitlines()[0][:200] if str(e) else ''})") from None
    if config.model_type not in model_types:
        raise WeightsError(f"{name} weights {source}", f"is a {config.model_type!r} model, "
                           f"not {' or '.join(model_types)}", f"pass a {model_types[0]} checkpoint")
    return config


def preprocessor_config(folder: Path | None) -> dict[str, Any]:
    """The folder's ``preprocessor_config.json`` ({} if absent)."""
    from ..weights import read_json

    p = folder / "preprocessor_config.json" if folder is not None else None
    return read_json(p) if p is not None and p.is_file() else {}


def not_a_folder(name: str, source: str, default: str) -> WeightsError:
    return WeightsError(f"{name} weights {source}", "expected a Hugging Face model folder "
                        "(config.json + model.safetensors or pytorch_model.bin) or hub id",
                        f"e.g. --weights {name}={default}")


def checkpoint_tensors(folder: Path, prefixes: Sequence[str], name: str, source: str) -> dict[str, Any]:
    """Tensors of a Hugging Face folder's one weights set (:func:`~featurizer.models.weights.local.hf_weight_files`:
    ``model.safetensors`` or its index's shards, never a second set beside it) whose names start
    with one of ``prefixes`` (prefix removed), read lazily from ``.safetensors`` (``.bin``:
    ``weights_only``, memory-mapped): the rest of a large checkpoint (a decoder, another tower) is
    never loaded."""
    import torch

    from ..weights.local import hf_weight_files

    def keep(key: str) -> str | None:
        return next((key[len(p):] for p in prefixes if key.startswith(p)), None)

    files = hf_weight_files(folder)
    if not files:
        raise WeightsError(f"{name} weights {source}", "has no weights set transformers would load "
                           "(model.safetensors, pytorch_model.bin, or the shards of their index)",
                           f"pass the complete Hugging Face folder with --weights {name}=PATH")
    out: dict[str, Any] = {}
    for f in files:
        if f.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(f), framework="pt") as st:
                for k in st.keys():
                    if (short := keep(k)) is not None:
                        out[short] = st.get_tensor(k)
        else:
            try:
                sd = torch.load(str(f), map_location="cpu", weights_only=True, mmap=True)
            except RuntimeError:  # a legacy (pre-zip) torch file cannot be memory-mapped
                sd = torch.load(str(f), map_location="cpu", weights_only=True)
            out.update({short: v for k, v in sd.items() if (short := keep(k)) is not None})
    if not out:
        raise WeightsError(f"{name} weights {source}", f"holds no tensors named {' or '.join(p + '*' for p in prefixes)}",
                           f"pass the complete Hugging Face folder with --weights {name}=PATH")
    return out
