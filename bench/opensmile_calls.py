"""openSMILE on the live engine's audio windows (a 0.2 s core with 0.5 s of context on each side,
1.2 s): ``opensmile.Smile.process_signal`` (a new instance set up and freed per call) beside the
featurizer extractors (one instance per thread, reset between signals), ms per call, with the
ratio; the rows are checked equal.

    uv run python bench/opensmile_calls.py [--calls 40]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import opensmile
from featurizer import create_extractor

SETS = {"egemaps": ("eGeMAPSv02", ("LowLevelDescriptors",)),
        "compare": ("ComParE_2016", ("LowLevelDescriptors", "LowLevelDescriptors_Deltas"))}


def direct(smiles: list, wave: np.ndarray) -> np.ndarray:
    parts = [s.process_signal(wave, 16_000).to_numpy(np.float32) for s in smiles]
    n = min(len(p) for p in parts)
    return np.concatenate([p[:n] for p in parts], axis=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=40)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    t = np.arange(19_200) / 16_000
    waves = [(0.3 * np.sin(2 * np.pi * (150 + 10 * k) * t) + 0.02 * rng.standard_normal(len(t))).astype(np.float32)
             for k in range(a.calls)]
    print(f"{'extractor':10}{'process_signal':>16}{'reused':>10}{'ratio':>8}  (ms per 1.2 s call, {a.calls} calls)")
    for name, (fs, levels) in SETS.items():
        smiles = [opensmile.Smile(opensmile.FeatureSet[fs], opensmile.FeatureLevel[lv]) for lv in levels]
        ex = create_extractor(name)
        ex.extract_audio(waves[:1], 16_000)
        took = {"direct": 0.0, "reused": 0.0}
        for w in waves:  # interleaved: both see the same load
            t0 = time.perf_counter()
            want = direct(smiles, w)
            t1 = time.perf_counter()
            (got,) = ex.extract_audio([w], 16_000)
            took["direct"] += t1 - t0
            took["reused"] += time.perf_counter() - t1
            assert got.tobytes() == want.tobytes(), f"{name}: rows differ"
        d, r = (took[k] / a.calls * 1000 for k in ("direct", "reused"))
        print(f"{name:10}{d:16.1f}{r:10.1f}{d / r:8.2f}")


if __name__ == "__main__":
    main()
