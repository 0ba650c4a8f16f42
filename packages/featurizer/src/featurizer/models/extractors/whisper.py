"""``whisper``: the Whisper encoder's states (transformers ``WhisperEncoder``), one row per 20 ms.

Input: the checkpoint's own ``WhisperFeatureExtractor`` (log-mel, 80 or 128 bins, 25 ms windows
every 10 ms, frame j centred at j x 10 ms), on windows of at most 30 s padded with silence to 30 s
(Whisper's fixed input). The two encoder convolutions (kernel 3; strides 1 and 2) put encoder
position k on mel frames 2k-2 .. 2k+2: **row k is centred at k x 20 ms** (offset 0) and sees
65 ms of audio through the convolutions (and the whole 30 s window through attention). Rows whose
centres lie past the end of the real audio (the padding) are dropped: ``ceil(samples / 320)``
rows per window. Long audio goes through ``audio_rows.hop_rows``: cores of 26 s (less one hop) with
2 s of context on each side (windows within 30 s), starting on the 20 ms grid, stitched into one
row grid.

``whisper:K`` is the output of encoder layer K (1..L, before the final layer norm; later layers
are not run); ``whisper`` (``last``) is the encoder's output after its final layer norm.
Weights: a Hugging Face Whisper folder or hub id; only the encoder's tensors are read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..registry import DEEP_OPTIONS, Extractor, Option, Timing, register

RECIPE = "1"
DEFAULT = "openai/whisper-large-v3"
SR = 16_000
HOP_SAMPLES = 320  # 20 ms per encoder position
WINDOW_SECONDS = 30.0
TIMING = Timing("hop", hop=0.02, window=0.065, offset=0.0)
CONTEXT = 2.0  # seconds each side of a chunk's core
PREFIXES = ("model.encoder.", "encoder.")


def parse_layer(value: str | int | None) -> str | int:
    if value is None or value == "" or value == "last":
        return "last"
    try:
        k = int(value)
    except (TypeError, ValueError):
        raise ValueError("expected last or a layer number 1..L") from None
    if k < 1:
        raise ValueError("layer numbers start at 1")
    return k


def _variant(value: str) -> dict[str, Any]:
    parse_layer(value)
    return {}


@dataclass
class WhisperStates(Extractor):
    encoder: Any = field(default=None, repr=False)
    features: Any = field(default=None, repr=False)  # WhisperFeatureExtractor
    device: Any = None
    layer_spec: str | int = "last"
    architecture: str = ""

    def provenance(self) -> dict[str, Any]:
        return {**super().provenance(), "architecture": self.architecture,
                "n_mels": int(self.features.feature_size)}

    @staticmethod
    def n_rows(n_samples: int) -> int:
        return -(-n_samples // HOP_SAMPLES)

    def extract_audio(self, waves: Sequence[np.ndarray], sample_rate: int) -> list[np.ndarray]:
        if sample_rate != SR:
            raise ValueError(f"Whisper expects {SR} Hz audio, got {sample_rate}")
        if any(len(w) > WINDOW_SECONDS * SR for w in waves):
            raise ValueError("Whisper windows are at most 30 s (hop_rows chunks longer audio)")
        out = []
        bs = max(1, self.batch_size)
        for b in range(0, len(waves), bs):
            part = [np.asarray(w, np.float32) for w in waves[b : b + bs]]
            states = self._forward(part)
            out += [s[: self.n_rows(len(w))] for s, w in zip(states, part, strict=True)]
        return out

    def _forward(self, waves: list[np.ndarray]) -> np.ndarray:
        import torch

        from ..precision import inference, to_device

        feats = self.features(waves, sampling_rate=SR, return_tensors="np", padding="max_length")
        with inference(self.device, self.precision):
            x = to_device(torch.from_numpy(np.ascontiguousarray(feats["input_features"], np.float32)),
                          self.device)
            if self.layer_spec == "last":
                h = self.encoder(x).last_hidden_state
            else:
                got: list[Any] = []
                hook = self.encoder.layers[-1].register_forward_hook(
                    lambda _m, _a, o: got.append(o[0] if isinstance(o, tuple) else o))
                try:
                    self.encoder(x)
                finally:
                    hook.remove()
                h = got[0]
            return h.float().cpu().numpy()


def _random_encoder() -> tuple[Any, Any]:
    """The real-size large-v3 encoder (32 x 1280, 128 mel bins) with random weights."""
    import transformers
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    config = transformers.WhisperConfig(d_model=1280, encoder_layers=32, encoder_attention_heads=20,
                                        encoder_ffn_dim=5120, num_mel_bins=128, decoder_layers=1)
    return WhisperEncoder(config), config


def load_whisper(weights: str | None, device: str | None, batch_size: int | None,
                 layer: str | int | None, precision: str | None,
                 chunk_context_seconds: float | None) -> Extractor:
    from ...core.device import is_cuda, resolve_device
    from ...errors import WeightsError
    from ..precision import prepare_model, resolve_precision
    from ..weights import load_into, resolve
    from ._hf_load import checkpoint_tensors, hf_config, not_a_folder, preprocessor_config

    name = "whisper"
    try:
        layer_spec = parse_layer(layer)
    except ValueError as e:
        raise WeightsError(f"whisper:{layer}", str(e)) from None
    res = resolve(name, weights, DEFAULT, needs=("config.json",))  # first: fails before torch loads
    dev = resolve_device(device)
    prec = resolve_precision(precision, dev, name)
    import transformers
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    if res.kind == "random":
        encoder, config = _random_encoder()
    elif res.kind == "hf_folder":
        config = hf_config(res.path, name, res.source, ("whisper",))
        encoder = WhisperEncoder(config)
        sd = checkpoint_tensors(res.path, PREFIXES, name, res.source)
        load_into(encoder, sd, name, res.source, f"WhisperEncoder ({config.encoder_layers} layers)")
    else:
        raise not_a_folder(name, res.source, DEFAULT)
    L = int(config.encoder_layers)
    if isinstance(layer_spec, int):
        if layer_spec > L:
            raise WeightsError(f"whisper:{layer_spec}", f"the encoder has {L} layers (1..{L})")
        encoder.layers = encoder.layers[:layer_spec]  # later layers are not run
    if preprocessor_config(res.path):
        features = transformers.WhisperFeatureExtractor.from_pretrained(str(res.path))
    else:
        features = transformers.WhisperFeatureExtractor(feature_size=int(config.num_mel_bins))
    if int(features.feature_size) != int(config.num_mel_bins):
        raise WeightsError(f"{name} weights {res.source}", f"preprocessor_config.json has {features.feature_size} "
                           f"mel bins, the model {config.num_mel_bins}")
    ctx = CONTEXT if chunk_context_seconds is None else float(chunk_context_seconds)
    if not 0 <= ctx < WINDOW_SECONDS / 2 - 1:
        raise WeightsError(f"whisper chunk_context_seconds={ctx}", "must be 0 to 14 s (windows are 30 s)")
    dim = int(config.d_model)
    return WhisperStates(
        name=name, modality="audio", dim=dim, timing=TIMING, recipe_version=RECIPE,
        weights_id=res.weights_id, weights_sha256=res.sha256, layer=str(layer_spec),
        batch_size=batch_size or (8 if is_cuda(dev) else 1), precision=prec,
        # one hop spare: a window snapped back onto the 20 ms grid stays within 30 s
        max_chunk_seconds=WINDOW_SECONDS - 2 * ctx - 0.02, chunk_context_seconds=ctx,
        encoder=prepare_model(encoder, dev), features=features, device=dev, layer_spec=layer_spec,
        architecture=f"transformers WhisperEncoder ({L} layers, {config.num_mel_bins} mel bins)")


@register("whisper", modality="audio", dim=1280, timing=TIMING, recipe_version=RECIPE,
          weights_source=DEFAULT, needs_weights=True, variant_option="layer", variant=_variant,
          options=DEEP_OPTIONS + (Option("chunk_context_seconds", float, "context (s) on each side of a "
                                         "chunk; cores are 30 s minus twice this"),),
          trained_on="speech", licence="Apache-2.0 (OpenAI Whisper)",
          description="Whisper encoder states (large-v3: 1280-d) every 20 ms, 30 s windows")
def whisper(weights: str | None = None, device: str | None = None, batch_size: int | None = None,
            layer: str | int | None = None, precision: str | None = None,
            chunk_context_seconds: float | None = None) -> Extractor:
    return load_whisper(weights, device, batch_size, layer, precision, chunk_context_seconds)
