"""Local vs Ray executor for `featurizer extract` on this machine (2 Ray workers per group).

On 2 cores near 1x is expected: the point is that little is lost to coordination. Ray's start-up
is reported separately from the extraction itself.

    uv run python bench/scale.py [--videos 6] [--seconds 20] [--models egemaps,fbank,hog]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from featurizer import extract
from featurizer.core.cluster import start_ray
from featurizer.demo import make_demo
from featurizer.extraction.executors.ray import RayExecutor, RayOptions


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--models", default="egemaps,fbank,hog")
    args = ap.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    import ray

    work = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    try:
        make_demo(work / "d", args.videos, args.seconds, seed=2)
        vids = [work / "d" / "videos"]
        kw = dict(labels=work / "d" / "annotations", faces=work / "d" / "cropped_aligned")
        t0 = time.perf_counter()
        rep = extract(vids, args.models, str(work / "local.zarr"), **kw)
        t_local = time.perf_counter() - t0
        assert rep.ok
        t0 = time.perf_counter()
        start_ray(num_cpus=os.cpu_count())
        t_init = time.perf_counter() - t0
        t0 = time.perf_counter()
        rep = extract(vids, args.models, str(work / "ray.zarr"),
                      executor=RayExecutor(RayOptions(workers_per_group=2)), **kw)
        t_ray = time.perf_counter() - t0
        assert rep.ok, rep.failed
        ray.shutdown()
        frames = sum(r.frames for r in rep.results)
        print(f"{args.videos} videos x {args.seconds:g} s, {frames} frames, models {args.models}, {os.cpu_count()} CPUs")
        print(f"{'executor':10} {'seconds':>8} {'frames/s':>9}")
        print(f"{'local':10} {t_local:8.2f} {frames / t_local:9.0f}")
        print(f"{'ray':10} {t_ray:8.2f} {frames / t_ray:9.0f}   (+{t_init:.1f} s cluster start, not included)")
        print(f"ray / local time: {t_ray / t_local:.2f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
