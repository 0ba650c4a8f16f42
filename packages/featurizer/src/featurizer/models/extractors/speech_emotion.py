"""``wav2vec2-emotion-adv``: audeering's wav2vec 2.0 emotion model's own outputs, arousal,
dominance and valence (3-d, roughly 0..1), for a window of audio around each label frame.

The model (``audeering/wav2vec2-large-robust-12-ft-emotion-msp-dim``) is its model card's
``EmotionModel``: a 12-layer wav2vec 2.0 whose last hidden states are averaged over time and
passed through a regression head (``classifier.dense`` -> tanh -> ``classifier.out_proj``); the
column order comes from the config's ``id2label``. It rates whole utterances, so each frame gets
the rating of a ``window``-second window (default 3 s; ``wav2vec2-emotion-adv:SECONDS``) on the
grid of :mod:`.frame_windows` (every ``window / 5`` s, interpolated to each frame), each window
normalised to zero mean and unit variance as its ``Wav2Vec2Processor`` does. The hidden states
themselves are ``wav2vec2-emotion`` (:mod:`.hf_audio`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..registry import DEEP_OPTIONS, Extractor, Option, register
from ._frame_windows import WindowedExtractor, parse_window, window_timing
from .hf_audio import EMOTION_DEFAULT

NAME = "wav2vec2-emotion-adv"
RECIPE = "1"
DEFAULT_WINDOW = 3.0
HEAD = "classifier."


def _variant(value: str) -> dict[str, Any]:
    return {"timing": window_timing(parse_window(value, DEFAULT_WINDOW))}


@dataclass
class SpeechEmotion(WindowedExtractor):
    model: Any = field(default=None, repr=False)  # Wav2Vec2Model
    head: Any = field(default=None, repr=False)  # dense -> tanh -> out_proj
    normalize: bool = True
    columns: list[str] = field(default_factory=list)
    architecture: str = ""

    def provenance(self) -> dict[str, Any]:
        return {**super().provenance(), "architecture": self.architecture, "columns": self.columns,
                "normalize": self.normalize}

    def embed(self, windows: np.ndarray) -> np.ndarray:
        import torch

        from ..precision import inference, to_device
        from .hf_audio import zero_mean_unit_var

        x = zero_mean_unit_var(windows) if self.normalize else windows
        with inference(self.device, self.precision):
            h = self.model(to_device(torch.from_numpy(np.ascontiguousarray(x, np.float32)), self.device))
            return self.head(h.last_hidden_state.mean(dim=1)).float().cpu().numpy()


def load_speech_emotion(weights: str | None, device: str | None, batch_size: int | None,
                        window: str | float | None, hop: float | None, precision: str | None) -> Extractor:
    from ...core.device import is_cuda, resolve_device
    from ...errors import WeightsError
    from ..precision import prepare_model, resolve_precision
    from ..weights import check_state_dict
    from ._hf_load import checkpoint_tensors
    from .hf_audio import load_speech_model, speech_weights

    try:
        win = parse_window(window, DEFAULT_WINDOW)
    except ValueError as e:
        raise WeightsError(f"{NAME}:{window}", str(e)) from None
    res = speech_weights(NAME, EMOTION_DEFAULT, weights)  # first: fails before torch loads
    dev = resolve_device(device)
    prec = resolve_precision(precision, dev, NAME)
    import torch

    model, normalize = load_speech_model(res, NAME, EMOTION_DEFAULT, ("wav2vec2",))
    config = model.config
    n_out = int(config.num_labels)
    hidden = int(config.hidden_size)
    head = torch.nn.Sequential()
    head.add_module("dense", torch.nn.Linear(hidden, hidden))
    head.add_module("tanh", torch.nn.Tanh())
    head.add_module("out_proj", torch.nn.Linear(hidden, n_out))
    if res.kind != "random":
        sd = checkpoint_tensors(res.path, (HEAD,), NAME, res.source)
        check_state_dict(head.state_dict(), sd, NAME, res.source, "its regression head (classifier.*)")
        head.load_state_dict(sd)
    labels = getattr(config, "id2label", None) or {}
    columns = [str(labels.get(i, labels.get(str(i), f"output_{i}"))) for i in range(n_out)]
    return SpeechEmotion(
        name=NAME, modality="audio", dim=n_out, timing=window_timing(win, hop), recipe_version=RECIPE,
        weights_id=res.weights_id, weights_sha256=res.sha256, layer="regression head",
        batch_size=batch_size or (32 if is_cuda(dev) else 4), device=dev, precision=prec,
        model=prepare_model(model, dev), head=prepare_model(head, dev), normalize=normalize,
        columns=columns, architecture=f"transformers {type(model).__name__} + mean pooling + regression head")


@register(NAME, modality="audio", dim=3, timing=window_timing(DEFAULT_WINDOW), recipe_version=RECIPE,
          weights_source=EMOTION_DEFAULT, needs_weights=True, variant_option="window", variant=_variant,
          options=DEEP_OPTIONS + (Option("hop", float, "seconds between rated windows"),),
          trained_on="affect", licence="CC-BY-NC-SA-4.0 (audEERING, research only)",
          description="audeering wav2vec 2.0 emotion model's arousal, dominance, valence for a 3 s "
                      "window around each frame")
def wav2vec2_emotion_adv(weights: str | None = None, device: str | None = None,
                         batch_size: int | None = None, window: str | float | None = None,
                         hop: float | None = None, precision: str | None = None) -> Extractor:
    return load_speech_emotion(weights, device, batch_size, window, hop, precision)
