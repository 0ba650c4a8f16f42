"""openSMILE low-level descriptors: eGeMAPSv02 (25-d) and ComParE 2016 + deltas (130-d).

``opensmile.Smile.process_signal`` sets a new openSMILE instance up for every signal (parses its
configuration, builds every component) and frees it: most of the cost of a short signal (the live
engine's 1 s windows). Here each thread keeps one configured instance per feature set, level and
rate (``Smile``'s own configuration and options) and resets it between signals, as the SMILEapi
allows: the same samples in (int16, converted as ``Smile`` converts them), the same rows out.
ComParE's descriptors and their deltas come from one run (two sinks) instead of two.
"""

from __future__ import annotations

import os
import threading
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
        parts = _runs(self._smiles, wave, sample_rate)
        n = min(len(p) for p in parts)  # deltas may carry extra clipped tail rows
        return np.ascontiguousarray(np.concatenate([p[:n] for p in parts], axis=1))


_LOCAL = threading.local()  # per thread: (config, levels, rate) -> _Instance


def _runs(smiles: list, wave: np.ndarray, rate: int) -> list[np.ndarray]:
    """Each level's rows of one signal: two levels of one feature set from one run (openSMILE's
    two-sink output: ComParE's descriptors and their deltas computed once), more in pairs."""
    have = _LOCAL.__dict__.setdefault("instances", {})
    out: list[np.ndarray] = []
    for k in range(0, len(smiles), 2):
        pair = smiles[k:k + 2]
        key = (pair[0].config_path, tuple(str(s.feature_level) for s in pair), int(rate))
        if key not in have:
            have[key] = _Instance(pair, int(rate))
        out += have[key].run(wave)
    return out


class _Instance:
    """One configured openSMILE instance for one or two levels of a feature set, run once per
    signal and reset after (what ``Smile._extract`` does for one channel, without building the
    instance anew); two levels: the same configuration with openSMILE's two-sink output."""

    def __init__(self, smiles: list, rate: int):
        from opensmile.core.config import config

        root, opts = smiles[0].default_config_root, smiles[0]._options()
        opts.update(source=os.path.join(root, config.EXTERNAL_INPUT_CONFIG), sampleRate=rate, nBits=16)
        if len(smiles) == 2:  # the two-sink output (its options are named lld and func, any level goes)
            del opts["sinkLevel"]
            opts.update(sink=os.path.join(root, config.EXTERNAL_OUTPUT_MULTI_CONFIG),
                        sinkLevelLLD=smiles[0]._options()["sinkLevel"], sinkLevelFunc=smiles[1]._options()["sinkLevel"])
            self.sinks = ["extsinklld", "extsinkfunc"]
        else:
            self.sinks = [config.EXTERNAL_OUTPUT_COMPONENT]
        self.n_features = [s.num_features for s in smiles]
        self.source = config.EXTERNAL_SOURCE_COMPONENT
        self.smile, self.used = smiles[0]._smile(options=opts), False
        self.rows: list[list[np.ndarray]] = []

    def run(self, wave: np.ndarray) -> list[np.ndarray]:
        x = np.atleast_2d(wave)[0].copy()
        x *= 32768
        x = x.astype(np.int16)
        if self.used:
            self.smile.reset()
            del self.smile._callbacks[:]  # reset dropped the sinks' callbacks: keep no dead ones
        self.used, self.rows = True, [[] for _ in self.sinks]
        try:
            for sink, rows in zip(self.sinks, self.rows, strict=True):
                self.smile.external_sink_set_callback_ex(sink, lambda data, _meta, rows=rows: rows.append(data.copy()))
            self.smile.external_audio_source_write_data(self.source, bytes(x))
            self.smile.external_audio_source_set_eoi(self.source)
            self.smile.run()
        except BaseException:
            self.close()
            _LOCAL.instances = {k: v for k, v in _LOCAL.instances.items() if v is not self}
            raise
        # as Smile: a signal too short for one row gives one row of NaN
        return [np.vstack(r).astype(np.float32, copy=False) if r else np.full((1, n), np.nan, np.float32)
                for r, n in zip(self.rows, self.n_features, strict=True)]

    def close(self) -> None:
        if self.smile is not None:
            self.smile.free()
            self.smile = None

    def __del__(self) -> None:
        self.close()


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
