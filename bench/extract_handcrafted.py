"""Throughput of the weight-free extractors through `featurizer extract` vs the bare library call.

For each of egemaps, compare, fbank, hog: seconds of media per second (a) through the pipeline,
including probe, decode, alignment and the Zarr write, and (b) the bare computation (openSMILE,
torchaudio's Kaldi fbank, OpenCV HOG) on audio / crops decoded beforehand. Prints (a)/(b) time
ratios side by side; the target is a total overhead of at most 1.25x.

    uv run python bench/extract_handcrafted.py [--videos 6] [--seconds 30] [--repeats 2]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import cv2
import opensmile
import torch
from featurizer import extract
from featurizer.demo import make_demo
from featurizer.media.decode import load_audio
from featurizer.models.extractors.hog import make_hog
from torchaudio.compliance import kaldi


def bare_opensmile(waves, feature_set, levels):
    smiles = [opensmile.Smile(feature_set=feature_set, feature_level=lv) for lv in levels]
    for w in waves:
        for s in smiles:
            s.process_signal(w, 16000)


def bare_fbank(waves):
    with torch.inference_mode():
        for w in waves:
            kaldi.fbank(torch.from_numpy(w * 32768.0)[None], num_mel_bins=80, dither=0.0, sample_frequency=16000)


def bare_hog(crops):
    hog = make_hog()
    for c in crops:
        hog.compute(cv2.resize(cv2.cvtColor(c, cv2.COLOR_RGB2GRAY), (64, 64), interpolation=cv2.INTER_AREA))


def best_of(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-hc-"))
    try:
        make_demo(work / "demo", args.videos, args.seconds, seed=1, missing_crops=0.0)
        videos = sorted((work / "demo" / "videos").glob("*.mp4"))
        labels, faces = work / "demo" / "annotations", work / "demo" / "cropped_aligned"
        media_s = args.videos * args.seconds
        waves = [load_audio(v).samples for v in videos]
        crops = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in sorted(faces.rglob("*.jpg"))]
        face_s = len(crops) / 25.0
        bare = {
            "egemaps": lambda: bare_opensmile(waves, opensmile.FeatureSet.eGeMAPSv02,
                                              [opensmile.FeatureLevel.LowLevelDescriptors]),
            "compare": lambda: bare_opensmile(waves, opensmile.FeatureSet.ComParE_2016,
                                              [opensmile.FeatureLevel.LowLevelDescriptors,
                                               opensmile.FeatureLevel.LowLevelDescriptors_Deltas]),
            "fbank": lambda: bare_fbank(waves),
            "hog": lambda: bare_hog(crops),
        }
        print(f"corpus: {args.videos} videos x {args.seconds:g} s (320x240, 25 fps), {len(crops)} face crops; "
              f"best of {args.repeats}")
        print(f"{'model':8} {'pipeline s':>10} {'bare s':>8} {'pipe media-s/s':>15} {'bare media-s/s':>15} {'ratio':>6}")
        tot_p = tot_b = 0.0
        for name, fn in bare.items():
            def run(name=name):
                out = work / f"{name}.zarr"
                shutil.rmtree(out, ignore_errors=True)
                rep = extract(videos, name, str(out), labels=labels, faces=faces)
                assert rep.ok, rep.failed
            tp, tb = best_of(run, args.repeats), best_of(fn, args.repeats)
            tot_p, tot_b = tot_p + tp, tot_b + tb
            secs = face_s if name == "hog" else media_s
            print(f"{name:8} {tp:10.2f} {tb:8.2f} {secs / tp:15.1f} {secs / tb:15.1f} {tp / tb:6.2f}x")
        print(f"{'total':8} {tot_p:10.2f} {tot_b:8.2f} {'':15} {'':15} {tot_p / tot_b:6.2f}x  (target <= 1.25x)")
        t_all = best_of(lambda: extract(videos, "egemaps,compare,fbank,hog", str(work / f"all{time.time()}.zarr"),
                                        labels=labels, faces=faces), 1)
        print(f"all four in one call (one decode per video): {t_all:.2f} s vs {tot_p:.2f} s for four separate "
              f"runs ({tot_p / t_all:.2f}x); bare sum {tot_b:.2f} s -> {t_all / tot_b:.2f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
