"""Self-supervised speech models through transformers: ``wav2vec`` (wav2vec 2.0) and ``hubert``.

Rows follow the convolutional feature encoder: for the standard stack (kernels 10,3,3,3,3,2,2,
strides 5,2,2,2,2,2,2 at 16 kHz) one row per 320 samples (20 ms), each seeing 400 samples
(25 ms), the first centred at 200 samples (12.5 ms). The timing is computed from the model's
config, so a checkpoint with another stack declares its own.

``layer`` (``NAME:LAYER`` on the command line, e.g. ``hubert:cnn``, ``wav2vec:mean4``):

- ``cnn``: the feature encoder's output (``conv_dim[-1]``, 512-d), before its layer norm and
  projection; only the CNN runs.
- ``K`` (0..num_layers): ``hidden_states[K]`` as transformers 5 numbers them (0 = the
  transformer's input, K = the output of layer K); layers past K are not run.
- ``last``: ``last_hidden_state`` (for stable-layer-norm models, after the encoder's final layer
  norm; otherwise equal to ``hidden_states[num_layers]``).
- ``mean4``: the mean of ``hidden_states[-4:]``.

Input: each chunk is normalised to zero mean and unit variance when the checkpoint's
``preprocessor_config.json`` says ``do_normalize`` (as ``Wav2Vec2FeatureExtractor`` does). Long
audio goes through in chunks with context on each side (``audio_rows.hop_rows``), batched,
stitched on the 20 ms grid: rows = the unchunked row count, no padding rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..registry import BATCH_SIZE, DEVICE, WEIGHTS, Extractor, Option, Timing, register

RECIPE = "1"
W2V_TIMING = Timing("hop", hop=0.02, window=0.025, offset=0.0125)
WAV2VEC_DEFAULT = "facebook/wav2vec2-large-960h"
HUBERT_DEFAULT = "facebook/hubert-base-ls960"
NAMED_LAYERS = ("cnn", "last", "mean4")
HF_OPTIONS = (WEIGHTS, DEVICE, BATCH_SIZE,
              Option("max_chunk_seconds", float, "longest audio (s) one forward takes"), Option("chunk_context_seconds", float, "context (s) on each side of a chunk"))


def parse_layer(layer: str | int | None, default: str) -> str | int:
    v = default if layer is None or layer == "" else layer
    if isinstance(v, int):
        if v < 0:
            raise ValueError("layer index must be >= 0")
        return v
    s = str(v).strip().lower()
    if s in NAMED_LAYERS:
        return s
    if s.isdigit():
        return int(s)
    raise ValueError(f"layer must be one of {', '.join(NAMED_LAYERS)} or a layer index")


def conv_timing(kernels: Sequence[int], strides: Sequence[int], sample_rate: int = 16_000) -> Timing:
    """Hop, receptive field and first centre of a stack of unpadded 1-d convolutions."""
    rf, jump = 1, 1
    for k, s in zip(kernels, strides, strict=True):
        rf += (k - 1) * jump
        jump *= s
    return Timing("hop", hop=jump / sample_rate, window=rf / sample_rate, offset=rf / 2 / sample_rate)


def _variant(hidden: int, cnn: int) -> Any:
    def variant(value: str) -> dict[str, Any]:
        layer = parse_layer(value, "last")
        return {"dim": cnn if layer == "cnn" else hidden}

    return variant


@dataclass
class HFSpeech(Extractor):
    model: Any = field(default=None, repr=False)
    device: Any = None
    layer_spec: str | int = "last"
    normalize: bool = True
    num_layers: int = 0
    architecture: str = ""

    def provenance(self) -> dict[str, Any]:
        return {**super().provenance(), "architecture": self.architecture,
                "normalize": self.normalize}

    def n_rows(self, n_samples: int) -> int:
        t = self.timing
        sr = 16_000
        rf, hop = round(t.window * sr), round(t.hop * sr)
        return 0 if n_samples < rf else (n_samples - rf) // hop + 1

    def extract_audio(self, waves: Sequence[np.ndarray], sample_rate: int) -> list[np.ndarray]:
        out: list[np.ndarray | None] = [None] * len(waves)
        by_len: dict[int, list[int]] = {}
        for i, w in enumerate(waves):
            if self.n_rows(len(w)) == 0:
                out[i] = np.zeros((0, self.dim), np.float32)
            else:
                by_len.setdefault(len(w), []).append(i)
        bs = max(1, self.batch_size)
        for idx in by_len.values():  # equal lengths batch without padding or attention masks
            for b in range(0, len(idx), bs):
                part = idx[b : b + bs]
                rows = self._forward(np.stack([np.asarray(waves[i], np.float32) for i in part]))
                for i, r in zip(part, rows, strict=True):
                    out[i] = r[: self.n_rows(len(waves[i]))]
        return out  # type: ignore[return-value]

    def _forward(self, batch: np.ndarray) -> np.ndarray:
        import torch

        from ..device import inference, is_cuda

        if self.normalize:
            mean = batch.mean(axis=1, keepdims=True)
            var = batch.var(axis=1, keepdims=True)
            batch = (batch - mean) / np.sqrt(var + 1e-7)
        with inference(self.device):
            x = torch.from_numpy(np.ascontiguousarray(batch, np.float32)).to(self.device)
            autocast = torch.autocast("cuda", dtype=torch.float16) if is_cuda(self.device) else _null()
            with autocast:
                h = self._hidden(x)
            return h.float().cpu().numpy()

    def _hidden(self, x: Any) -> Any:
        m = self.model
        if self.layer_spec == "cnn":
            return m.feature_extractor(x).transpose(1, 2)
        if self.layer_spec == "last":
            return m(x).last_hidden_state
        L = self.num_layers
        want = list(range(max(0, L - 3), L + 1)) if self.layer_spec == "mean4" else [int(self.layer_spec)]
        got: dict[int, Any] = {}
        hooks = []
        layers = m.encoder.layers
        if 0 in want:
            hooks.append(layers[0].register_forward_pre_hook(
                lambda _m, args, kwargs: got.__setitem__(0, args[0] if args else kwargs["hidden_states"]),
                with_kwargs=True))
        for k in want:
            if k >= 1:
                hooks.append(layers[k - 1].register_forward_hook(
                    lambda _m, _a, out, k=k: got.__setitem__(k, out[0] if isinstance(out, tuple) else out)))
        try:
            m(x)
        finally:
            for hk in hooks:
                hk.remove()
        hs = [got[k] for k in want]
        return hs[0] if len(hs) == 1 else sum(hs) / len(hs)


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def load_hf_speech(name: str, default: str, model_types: tuple[str, ...], weights: str | None,
                   device: str | None, batch_size: int | None, layer: str | int | None,
                   default_layer: str, max_chunk_seconds: float | None = None,
                   chunk_context_seconds: float | None = None) -> Extractor:
    import torch
    import transformers

    from ..device import is_cuda, prepare_model, resolve_device
    from ..errors import WeightsError
    from ..weights import read_json, resolve

    try:
        layer_spec = parse_layer(layer, default_layer)
    except ValueError as e:
        raise WeightsError(f"{name}:{layer}", str(e)) from None
    dev = resolve_device(device)
    res = resolve(name, weights, default, needs=("config.json",),
                  hub_patterns=(("*.json", "*.safetensors"), ("*.json", "*.bin")))
    if res.kind == "random":
        config = _default_config(model_types[0])
        model = transformers.AutoModel.from_config(config)
        normalize = True
    elif res.kind == "hf_folder":
        config = transformers.AutoConfig.from_pretrained(str(res.path))
        if config.model_type not in model_types:
            raise WeightsError(f"{name} weights {res.source}", f"is a {config.model_type!r} model, "
                               f"not {' or '.join(model_types)}", f"pass a {model_types[0]} checkpoint")
        # our own check below reports mismatches once, as a WeightsError: quiet transformers' report
        tlog = transformers.utils.logging
        bars, verbosity = tlog.is_progress_bar_enabled(), tlog.get_verbosity()
        tlog.disable_progress_bar()
        tlog.set_verbosity_error()
        try:
            model, info = transformers.AutoModel.from_pretrained(str(res.path), output_loading_info=True)
        except Exception as e:  # noqa: BLE001 - shape mismatches and corrupt files land here
            raise WeightsError(f"{name} weights {res.source}", f"cannot load ({type(e).__name__}: "
                               f"{str(e).splitlines()[0][:300]})", f"--weights {name}=PATH") from None
        finally:
            tlog.set_verbosity(verbosity)
            if bars:
                tlog.enable_progress_bar()
        _check_loading_info(info, name, res.source, config.model_type)
        pre = res.path / "preprocessor_config.json"
        normalize = bool(read_json(pre).get("do_normalize", True)) if pre.is_file() else True
    else:
        raise WeightsError(f"{name} weights {res.source}", "expected a Hugging Face model folder "
                           "(config.json + model.safetensors or pytorch_model.bin) or hub id",
                           f"e.g. --weights {name}={default}")
    config = model.config
    L = int(config.num_hidden_layers)
    if isinstance(layer_spec, int) and layer_spec > L:
        raise WeightsError(f"{name}:{layer_spec}", f"the model has {L} layers (0..{L})")
    # run only what the layer needs
    if layer_spec == "cnn":
        model.encoder.layers = torch.nn.ModuleList()
    elif isinstance(layer_spec, int) and layer_spec < L:
        model.encoder.layers = model.encoder.layers[: max(1, layer_spec)]  # skip what is not used
    model = prepare_model(model, dev, half=False)
    timing = conv_timing(config.conv_kernel, config.conv_stride)
    cnn = layer_spec == "cnn"
    if max_chunk_seconds is None:
        # measured on CPU: 10 s CNN chunks beat longer ones (cache); transformer chunks are longer
        # so that the context (1.5 s each side) costs little
        max_chunk_seconds = 10.0 if cnn else 20.0
    if chunk_context_seconds is None:
        # CNN rows only see their 25 ms window; transformer rows see the whole chunk
        chunk_context_seconds = timing.window / 2 + timing.hop if cnn else 1.5
    return HFSpeech(
        name=name, modality="audio", dim=int(config.conv_dim[-1] if cnn else config.hidden_size),
        timing=timing, recipe_version=RECIPE, weights_id=res.weights_id, weights_sha256=res.sha256,
        layer=str(layer_spec), batch_size=batch_size or (8 if is_cuda(dev) else (4 if cnn else 2)),
        max_chunk_seconds=max_chunk_seconds, chunk_context_seconds=chunk_context_seconds,
        model=model, device=dev, layer_spec=layer_spec, normalize=normalize, num_layers=L,
        architecture=f"transformers {type(model).__name__}")


IGNORED_UNEXPECTED = ("lm_head.", "quantizer.", "project_q.", "project_hid.", "final_proj.",
                      "label_embs_concat", "classifier.", "projector.", "dropout_features")


def _check_loading_info(info: dict[str, Any], name: str, source: str, model_type: str) -> None:
    from ..errors import WeightsError

    missing = sorted(k for k in info.get("missing_keys", ()) if "masked_spec_embed" not in k)
    unexpected = sorted(k for k in info.get("unexpected_keys", ())
                        if not any(p in k for p in IGNORED_UNEXPECTED))
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


def _default_config(model_type: str) -> Any:
    """Real-size configs for random weights (benchmarks): hubert-base, wav2vec2-large."""
    import transformers

    if model_type == "hubert":
        return transformers.HubertConfig()  # base: 12 x 768, conv 512
    return transformers.Wav2Vec2Config(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                                       intermediate_size=4096)


@register("wav2vec", modality="audio", dim=1024, timing=W2V_TIMING, recipe_version=RECIPE,
          weights_source=WAV2VEC_DEFAULT, needs_weights=True, variant_option="layer",
          variant=_variant(1024, 512), options=HF_OPTIONS, trained_on="speech",
          licence="Apache-2.0", paper_weights_public=True,
          description="wav2vec 2.0 (transformers), last hidden state by default")
def wav2vec(weights: str | None = None, device: str | None = None, batch_size: int | None = None,
            layer: str | int | None = None, max_chunk_seconds: float | None = None,
            chunk_context_seconds: float | None = None) -> Extractor:
    return load_hf_speech("wav2vec", WAV2VEC_DEFAULT, ("wav2vec2",), weights, device, batch_size,
                          layer, "last", max_chunk_seconds, chunk_context_seconds)


@register("hubert", modality="audio", dim=512, timing=W2V_TIMING, recipe_version=RECIPE,
          weights_source=HUBERT_DEFAULT, needs_weights=True, variant_option="layer",
          variant=_variant(768, 512), options=HF_OPTIONS, trained_on="speech",
          licence="Apache-2.0", paper_weights_public=True,
          description="HuBERT (transformers), CNN feature-encoder output (512-d) by default")
def hubert(weights: str | None = None, device: str | None = None, batch_size: int | None = None,
           layer: str | int | None = None, max_chunk_seconds: float | None = None,
           chunk_context_seconds: float | None = None) -> Extractor:
    return load_hf_speech("hubert", HUBERT_DEFAULT, ("hubert",), weights, device, batch_size,
                          layer, "cnn", max_chunk_seconds, chunk_context_seconds)
