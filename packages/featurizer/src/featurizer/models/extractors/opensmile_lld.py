"""openSMILE low-level descriptors: eGeMAPSv02 (25-d) and ComParE 2016 + deltas (130-d)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..registry import Extractor, Timing, register

# openSMILE stamps row k with start k*10 ms and end start + window (its index, before tail clipping).
EGEMAPS_TIMING = Timing("hop", hop=0.01, window=0.02, offset=0.01)
COMPARE_TIMING = Timing("hop", hop=0.01, window=0.06, offset=0.03)


@dataclass
class OpenSmileLLD(Extractor):
    feature_set: str = "eGeMAPSv02"  # an opensmile.FeatureSet name
    levels: tuple[str, ...] = ()  # opensmile.FeatureLevel names
    _smiles: list = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        import opensmile

        self._smiles = [opensmile.Smile(feature_set=opensmile.FeatureSet[self.feature_set],
                                        feature_level=opensmile.FeatureLevel[lv]) for lv in self.levels]

    def extract_audio(self, waves: Sequence[np.ndarray], sample_rate: int) -> list[np.ndarray]:
        return [self._one(w, sample_rate) for w in waves]

    def _one(self, wave: np.ndarray, sample_rate: int) -> np.ndarray:
        if len(wave) < int(self.timing.window * sample_rate):
            return np.zeros((0, self.dim), np.float32)
        parts = [s.process_signal(wave, sample_rate).to_numpy(np.float32) for s in self._smiles]
        n = min(len(p) for p in parts)  # deltas may carry extra clipped tail rows
        return np.ascontiguousarray(np.concatenate([p[:n] for p in parts], axis=1))


@register("egemaps", modality="audio", dim=25, timing=EGEMAPS_TIMING, recipe_version="1",
          description="openSMILE eGeMAPSv02 low-level descriptors", licence="audEERING research licence (openSMILE 3)",
          paper_weights_public=True)
def egemaps() -> Extractor:
    import opensmile

    return OpenSmileLLD(
        name="egemaps", modality="audio", dim=25, timing=EGEMAPS_TIMING, recipe_version="1",
        weights_id=f"opensmile {opensmile.__version__} eGeMAPSv02",
        feature_set="eGeMAPSv02", levels=("LowLevelDescriptors",),
    )


@register("compare", modality="audio", dim=130, timing=COMPARE_TIMING, recipe_version="1",
          description="openSMILE ComParE 2016 low-level descriptors + deltas", licence="audEERING research licence (openSMILE 3)",
          paper_weights_public=True)
def compare() -> Extractor:
    import opensmile

    return OpenSmileLLD(
        name="compare", modality="audio", dim=130, timing=COMPARE_TIMING, recipe_version="1",
        weights_id=f"opensmile {opensmile.__version__} ComParE_2016",
        feature_set="ComParE_2016", levels=("LowLevelDescriptors", "LowLevelDescriptors_Deltas"),
    )
