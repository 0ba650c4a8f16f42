"""Kaldi-compatible log-mel filterbank (torchaudio.compliance.kaldi), 80 bins, 25 ms / 10 ms."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..registry import Extractor, Timing, register

FBANK_TIMING = Timing("hop", hop=0.01, window=0.025, offset=0.0125)


@dataclass
class Fbank(Extractor):
    num_mel_bins: int = 80

    def extract_audio(self, waves: Sequence[np.ndarray], sample_rate: int) -> list[np.ndarray]:
        import torch
        from torchaudio.compliance import kaldi

        out = []
        with torch.inference_mode():
            for w in waves:
                if len(w) < int(self.timing.window * sample_rate):
                    out.append(np.zeros((0, self.dim), np.float32))
                    continue
                # Kaldi works on 16-bit sample scale; no dither, so results are deterministic.
                x = torch.from_numpy(np.asarray(w, np.float32) * 32768.0).unsqueeze(0)
                f = kaldi.fbank(x, num_mel_bins=self.num_mel_bins, frame_length=25.0,
                                frame_shift=10.0, dither=0.0, sample_frequency=sample_rate)
                out.append(f.numpy())
        return out


@register("fbank", modality="audio", dim=80, timing=FBANK_TIMING, recipe_version="1",
          description="Kaldi log-mel filterbank, 80 bins", licence="BSD-2-Clause (torchaudio)",
          paper_weights_public=True)
def fbank() -> Extractor:
    return Fbank(name="fbank", modality="audio", dim=80, timing=FBANK_TIMING, recipe_version="1",
                 weights_id="torchaudio.compliance.kaldi.fbank")
