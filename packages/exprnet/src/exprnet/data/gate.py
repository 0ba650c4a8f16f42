"""``data.speech_gate``: audio features read only while someone speaks.

The gate is a speech-probability feature among ``data.features`` (``vad``: Silero's, one column
per label frame). In frames where it is below 0.5 (silero's own threshold), every other audio
feature is fed as whole-feature dropout feeds a dropped feature: its standardised columns are 0
(its mean) and its present flag, if the model takes flags, says absent (with ``present_flags:
modality``, the audio flag). The gate itself stays an input: the model sees how sure the VAD is.
Applied where every model input is built (:class:`~exprnet.data.batches.BatchBuilder`), so
training, calibration, prediction, baselines and bundles gate alike.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import DataError
from .bank import FeatureBank

THRESHOLD = 0.5


class SpeechGate:
    def __init__(self, bank: FeatureBank, feature: str, flag_groups: Sequence[Sequence[int]]):
        if feature not in bank.features:
            raise DataError(f"data.speech_gate: {feature}", "is not one of data.features",
                            f"add it to the features (e.g. --features ...,{feature})")
        j = bank.features.index(feature)
        if bank.dims[j] != 1:
            raise DataError(f"data.speech_gate: {feature}", f"has {bank.dims[j]} columns, not one speech "
                            "probability", "use the vad feature")
        cols = np.concatenate([[0], np.cumsum(bank.dims)]).astype(int)
        c = cols[j]
        raw = bank.values[:, c].astype(np.float64) / bank.scale[c] + bank.offset[c]  # as stored
        self.silent = raw < THRESHOLD  # (n_rows,) over the whole bank
        gated = [k for k, m in enumerate(bank.modalities) if m == "audio" and k != j]
        self.columns = np.concatenate([np.arange(cols[k], cols[k + 1]) for k in gated]) if gated else np.zeros(0, int)
        # flag inputs (by position after the features) that cover a gated feature
        self.flags = [i for i, group in enumerate(flag_groups) if any(k in gated for k in group)]

    def apply(self, x: np.ndarray, rows: slice | np.ndarray, d: int) -> None:
        """Gate ``x`` (the inputs of bank ``rows``: features then flags from column ``d``) in place."""
        silent = self.silent[rows]
        if not silent.any() or (not len(self.columns) and not self.flags):
            return
        idx = np.flatnonzero(silent)
        x[np.ix_(idx, self.columns)] = 0.0
        for f in self.flags:
            x[idx, d + f] = 0.0
