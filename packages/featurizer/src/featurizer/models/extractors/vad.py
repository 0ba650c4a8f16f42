"""``vad``: Silero VAD's speech probability (the ``silero-vad`` wheel, MIT), one value per 32 ms.

The model is the wheel's ``silero_vad/data/silero_vad_16k_sequence.onnx``, read and run by
onnxruntime (silero's own package is not imported): Silero's streaming network (STFT, four
convolutions, an LSTM cell, a sigmoid) exported to take a block of frames per call, each frame 512
new samples at 16 kHz with the previous frame's last 64 before them, the LSTM state carried from
block to block. This is, frame for frame, what silero's ``get_speech_timestamps`` computes before
its thresholds (its own streaming model is the tests' oracle).

Timing: row k is the probability that samples ``[512 k, 512 k + 512)`` are speech: centred at
16 ms + k x 32 ms, 32 ms wide (the network also sees the 64 samples before, 4 ms, and its state
remembers the past); the last frame is zero-padded as silero pads it. The rows are pooled onto
label frames as any ``hop`` extractor's (docs/timeline.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..registry import PRECISION, WEIGHTS, Extractor, Timing, register

SAMPLE_RATE = 16_000
FRAME, CONTEXT, STATE = 512, 64, 128
VAD_TIMING = Timing("hop", hop=FRAME / SAMPLE_RATE, window=FRAME / SAMPLE_RATE, offset=FRAME / 2 / SAMPLE_RATE)
RECIPE = "1"
WHEEL = "wheel:silero_vad/data/silero_vad_16k_sequence.onnx"
INSTALL = "pip install silero-vad==6.2.3"
BLOCK = 512  # frames per onnxruntime call (16.4 s of audio)


def frame_inputs(wave: np.ndarray) -> np.ndarray:
    """(ceil(n / 512), 576) float32: each 512-sample frame (the last zero-padded) after the
    previous frame's last 64 samples (zeros before the first)."""
    n = max(1, -(-len(wave) // FRAME))
    frames = np.zeros((n, FRAME), np.float32)
    frames.reshape(-1)[: len(wave)] = wave
    ctx = np.zeros((n, CONTEXT), np.float32)
    ctx[1:] = frames[:-1, -CONTEXT:]
    return np.concatenate([ctx, frames], axis=1)


@dataclass
class SileroVad(Extractor):
    session: Any = field(default=None, repr=False)

    def provenance(self) -> dict[str, Any]:
        return {**super().provenance(), "architecture": "Silero VAD (sequence ONNX)", "runtime": "onnxruntime",
                "columns": ["speech"]}

    def probabilities(self, wave: np.ndarray) -> np.ndarray:
        """Speech probability of each 512-sample frame of a 16 kHz mono wave."""
        x = frame_inputs(np.asarray(wave, np.float32))
        h = np.zeros((1, 1, STATE), np.float32)
        c = np.zeros((1, 1, STATE), np.float32)
        out = []
        for b in range(0, len(x), BLOCK):
            p, h, c = self.session.run(["speech_probs", "hn", "cn"], {"input": x[b: b + BLOCK], "h": h, "c": c})
            out.append(np.asarray(p, np.float32).reshape(-1))
        return np.concatenate(out)

    def extract_audio(self, waves: Sequence[np.ndarray], sample_rate: int) -> list[np.ndarray]:
        from ...errors import MediaError

        if sample_rate != SAMPLE_RATE:
            raise MediaError(f"vad audio at {sample_rate} Hz", "Silero VAD runs on 16 kHz audio",
                             "featurizer decodes audio at 16 kHz: pass it the video")
        return [self.probabilities(w)[:, None] if len(w) else np.zeros((0, 1), np.float32) for w in waves]


def load_vad(weights: str | None, precision: str | None = None) -> Extractor:
    """The VAD on the CPU (a small sequential network: it takes no device or batch size), in the
    precision its ONNX graph was exported in (fp32; another is refused, as for every ONNX model)."""
    from ...errors import WeightsError
    from ..weights import resolve

    res = resolve("vad", weights, WHEEL, where=INSTALL)  # first: a missing wheel fails before anything loads
    if precision not in (None, "auto", "fp32"):
        raise WeightsError(f"vad --precision {precision}", "the VAD's ONNX graph runs in the precision it was "
                           "exported in (fp32)", "leave --precision out for vad, or use fp32")
    if res.kind == "random":
        raise WeightsError("vad weights random", "the VAD runs its ONNX graph, which has no random form",
                           "leave --weights vad out")
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1  # a small sequential network, as silero runs it
    opts.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(res.path), opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001 - a truncated or foreign file
        raise WeightsError(f"vad weights {res.source}", f"cannot open the ONNX graph ({type(e).__name__})",
                           f"reinstall the wheel: {INSTALL}") from None
    names = {i.name for i in session.get_inputs()}
    if names != {"input", "h", "c"}:
        raise WeightsError(f"vad weights {res.source}", f"is not Silero's sequence VAD graph (inputs "
                           f"{', '.join(sorted(names))}; expected input, h, c)",
                           "pass silero_vad/data/silero_vad_16k_sequence.onnx")
    return SileroVad(name="vad", modality="audio", dim=1, timing=VAD_TIMING, recipe_version=RECIPE,
                     weights_id=res.weights_id, weights_sha256=res.sha256, layer="speech probability",
                     batch_size=1, session=session)


@register("vad", modality="audio", dim=1, timing=VAD_TIMING, recipe_version=RECIPE, weights_source=WHEEL,
          needs_weights=True, options=(WEIGHTS, PRECISION), trained_on="speech",
          dataset="Silero's speech and noise corpora (100+ languages; not published)", licence="MIT (silero-vad)",
          weights_hint=INSTALL,
          description="Silero VAD speech probability (0..1) every 32 ms, pooled per label frame")
def vad(weights: str | None = None, precision: str | None = None) -> Extractor:
    return load_vad(weights, precision)
