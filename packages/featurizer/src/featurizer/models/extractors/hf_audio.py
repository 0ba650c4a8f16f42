"""Speech models through transformers: ``wav2vec`` (wav2vec 2.0), ``hubert``, and
``wav2vec2-emotion`` (audeering's wav2vec 2.0 fine-tuned for arousal, dominance and valence: its
hidden states; the three outputs are ``wav2vec2-emotion-adv``, :mod:`.speech_emotion`).

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

from ..registry import DEEP_OPTIONS, Extractor, Option, Timing, register

RECIPE = "1"
W2V_TIMING = Timing("hop", hop=0.02, window=0.025, offset=0.0125)
WAV2VEC_DEFAULT = "facebook/wav2vec2-large-960h"
HUBERT_DEFAULT = "facebook/hubert-base-ls960"
EMOTION_DEFAULT = "audeering/wav2vec2-large-robust-12-ft-emotion-msp-dim"
NAMED_LAYERS = ("cnn", "last", "mean4")
CHUNK_OPTIONS = (Option("max_chunk_seconds", float, "longest audio (s) one forward takes"),
                 Option("chunk_context_seconds", float, "context (s) on each side of a chunk"))
HF_OPTIONS = DEEP_OPTIONS + CHUNK_OPTIONS


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

        from ..precision import inference, to_device

        if self.normalize:
            batch = zero_mean_unit_var(batch)
        with inference(self.device, self.precision):
            x = to_device(torch.from_numpy(np.ascontiguousarray(batch, np.float32)), self.device)
            return self._hidden(x).float().cpu().numpy()

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


def zero_mean_unit_var(batch: np.ndarray) -> np.ndarray:
    """Each row to zero mean and unit variance, as ``Wav2Vec2FeatureExtractor(do_normalize=True)``."""
    mean = batch.mean(axis=1, keepdims=True)
    var = batch.var(axis=1, keepdims=True)
    return (batch - mean) / np.sqrt(var + 1e-7)


def speech_weights(name: str, default: str, weights: str | None) -> Any:
    """The resolved weights of a wav2vec2-style extractor (a Hugging Face folder or hub id)."""
    from ..weights import resolve

    return resolve(name, weights, default, needs=("config.json",))


def load_speech_model(res: Any, name: str, default: str, model_types: tuple[str, ...]) -> tuple[Any, bool]:
    """(transformers model, ``do_normalize``) of resolved wav2vec2-style weights."""
    import transformers

    from ._hf_load import from_pretrained_checked, hf_config, not_a_folder, preprocessor_config

    if res.kind == "random":
        return transformers.AutoModel.from_config(random_config(name)), True
    if res.kind != "hf_folder":
        raise not_a_folder(name, res.source, default)
    config = hf_config(res.path, name, res.source, model_types)
    model = from_pretrained_checked(transformers.AutoModel, res.path, name, res.source, config.model_type)
    return model, bool(preprocessor_config(res.path).get("do_normalize", True))


def load_hf_speech(name: str, default: str, model_types: tuple[str, ...], weights: str | None,
                   device: str | None, batch_size: int | None, layer: str | int | None,
                   default_layer: str, max_chunk_seconds: float | None = None,
                   chunk_context_seconds: float | None = None, precision: str | None = None) -> Extractor:
    from ...core.device import is_cuda, resolve_device
    from ...errors import WeightsError
    from ..precision import prepare_model, resolve_precision

    try:
        layer_spec = parse_layer(layer, default_layer)
    except ValueError as e:
        raise WeightsError(f"{name}:{layer}", str(e)) from None
    res = speech_weights(name, default, weights)  # first: a missing download fails before torch loads
    dev = resolve_device(device)
    prec = resolve_precision(precision, dev, name)
    import torch

    model, normalize = load_speech_model(res, name, default, model_types)
    config = model.config
    L = int(config.num_hidden_layers)
    if isinstance(layer_spec, int) and layer_spec > L:
        raise WeightsError(f"{name}:{layer_spec}", f"the model has {L} layers (0..{L})")
    # run only what the layer needs
    if layer_spec == "cnn":
        model.encoder.layers = torch.nn.ModuleList()
    elif isinstance(layer_spec, int) and layer_spec < L:
        model.encoder.layers = model.encoder.layers[: max(1, layer_spec)]  # skip what is not used
    model = prepare_model(model, dev)
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
        architecture=f"transformers {type(model).__name__}", precision=prec)


def random_config(name: str) -> Any:
    """Real-size configs for random weights (benchmarks): hubert-base, wav2vec2-large, and the
    12-layer wav2vec2-large-robust of ``wav2vec2-emotion``."""
    import transformers

    if name == "hubert":
        return transformers.HubertConfig()  # base: 12 x 768, conv 512
    large = dict(hidden_size=1024, num_attention_heads=16, intermediate_size=4096)
    if name.startswith("wav2vec2-emotion"):
        return transformers.Wav2Vec2Config(**large, num_hidden_layers=12, do_stable_layer_norm=True,
                                           feat_extract_norm="layer", conv_bias=True, num_labels=3)
    return transformers.Wav2Vec2Config(**large, num_hidden_layers=24)


@register("wav2vec", modality="audio", dim=1024, timing=W2V_TIMING, recipe_version=RECIPE,
          weights_source=WAV2VEC_DEFAULT, needs_weights=True, variant_option="layer",
          variant=_variant(1024, 512), options=HF_OPTIONS, trained_on="speech",
          licence="Apache-2.0", paper_weights_public=True,
          description="wav2vec 2.0 (transformers), last hidden state by default")
def wav2vec(weights: str | None = None, device: str | None = None, batch_size: int | None = None,
            layer: str | int | None = None, max_chunk_seconds: float | None = None,
            chunk_context_seconds: float | None = None, precision: str | None = None) -> Extractor:
    return load_hf_speech("wav2vec", WAV2VEC_DEFAULT, ("wav2vec2",), weights, device, batch_size,
                          layer, "last", max_chunk_seconds, chunk_context_seconds, precision)


@register("hubert", modality="audio", dim=512, timing=W2V_TIMING, recipe_version=RECIPE,
          weights_source=HUBERT_DEFAULT, needs_weights=True, variant_option="layer",
          variant=_variant(768, 512), options=HF_OPTIONS, trained_on="speech",
          licence="Apache-2.0", paper_weights_public=True,
          description="HuBERT (transformers), CNN feature-encoder output (512-d) by default")
def hubert(weights: str | None = None, device: str | None = None, batch_size: int | None = None,
           layer: str | int | None = None, max_chunk_seconds: float | None = None,
           chunk_context_seconds: float | None = None, precision: str | None = None) -> Extractor:
    return load_hf_speech("hubert", HUBERT_DEFAULT, ("hubert",), weights, device, batch_size,
                          layer, "cnn", max_chunk_seconds, chunk_context_seconds, precision)


@register("wav2vec2-emotion", modality="audio", dim=1024, timing=W2V_TIMING, recipe_version=RECIPE,
          weights_source=EMOTION_DEFAULT, needs_weights=True, variant_option="layer",
          variant=_variant(1024, 512), options=HF_OPTIONS, trained_on="affect",
          licence="CC-BY-NC-SA-4.0 (audEERING, research only)",
          description="audeering wav2vec 2.0 (12 layers) fine-tuned on MSP-Podcast for arousal, dominance "
                      "and valence: its hidden states (last by default), every 20 ms")
def wav2vec2_emotion(weights: str | None = None, device: str | None = None, batch_size: int | None = None,
                     layer: str | int | None = None, max_chunk_seconds: float | None = None,
                     chunk_context_seconds: float | None = None, precision: str | None = None) -> Extractor:
    return load_hf_speech("wav2vec2-emotion", EMOTION_DEFAULT, ("wav2vec2",), weights, device, batch_size,
                          layer, "last", max_chunk_seconds, chunk_context_seconds, precision)
