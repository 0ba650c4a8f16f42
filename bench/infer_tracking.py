"""`exprnet infer` with the face tracker (``--detect-every N``) against detecting every frame, end to end.

The bundle and the new videos are bench/infer.py's (``make_bundle``, ``make_videos``: a small
training corpus, lstm + baseline; ``--videos`` talking heads of ``--seconds`` at 25 fps, 320x240,
a real face photograph with real speech), over ``--models`` (default: the weight-free demo
features egemaps,compare,fbank,hog). For each N of ``--detect-every`` (1, detect every frame,
always included), interleaved over ``--rounds`` (best kept):

1. the process: `exprnet infer VIDEOS --bundle B --detect-every N` (Python start-up, imports,
   model loading, faces, features, members, outputs; .pyc files cached and warmed first);
2. in process, models loaded beforehand: ``Inferencer(detect_every=N).videos`` with its stage
   seconds (faces = decode + detect/track + name; each model; members + post-processing).

Beside the speed: per-frame agreement of the expressions with N=1 and the largest difference of a
class probability (this bundle is trained for seconds on 320 frames, so its labels flip under any
small change of its input); then, untimed, what the members are fed against the truth: the
videos' true landmarks are known, so each N's landmark error and the distance of its HOG rows to
those of crops cut at the true landmarks. Target (issue 33): >= 2.5x faster end to end at the
default N.

    uv run python bench/infer_tracking.py [--videos 3] [--seconds 10] [--models egemaps,compare,fbank,hog]
                                          [--detect-every 10] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.infer import cli, make_bundle, make_videos, timed  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--models", default="egemaps,compare,fbank,hog")
    ap.add_argument("--hubert", choices=("random", "tiny"), default="random")
    ap.add_argument("--train-frames", type=int, default=80)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--detect-every", default="", help="N values beside 1 (default: the tracker's default)")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()

    from exprnet.cli import app as exprnet_app
    from exprnet.deploy.bundle import Bundle
    from exprnet.deploy.infer import Inferencer
    from featurizer.cli import app as featurizer_app
    from featurizer.faces import DEFAULT_DETECT_EVERY

    everies = sorted({1, *(int(x) for x in (args.detect_every or str(DEFAULT_DETECT_EVERY)).split(","))})
    work = Path(tempfile.mkdtemp(prefix="bench-infer-tracking-"))
    try:
        t0 = time.perf_counter()
        weights, bundle = make_bundle(args, work, exprnet_app, featurizer_app)
        vids, names, warm = make_videos(args, work)
        setup = time.perf_counter() - t0
        b = Bundle.load(bundle, device="cpu")
        cache = None
        infs = {}
        for n in everies:
            infs[n] = Inferencer(b, weights, "cpu", detect_every=n, cache=cache)
            cache = infs[n].cache
            infs[n].load()
            assert all(r.ok for r in infs[n].videos([warm], str(work / f"warm-{n}.zarr")))
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
        wflags = [a for k, v in weights.items() for a in ("--weights", f"{k}={v}")]

        def command(src: Path, out: Path, n: int) -> list[str]:
            return [*cli("exprnet"), "infer", str(src), "--bundle", str(bundle), "--out", str(out), *wflags,
                    "--detect-every", str(n)]

        logs = work / "logs"
        logs.mkdir()
        timed(command(warm, work / "warm-cli", everies[-1]), logs / "warm.log", env)  # writes the .pyc files
        proc: dict[int, float] = {}
        inproc: dict[int, tuple[float, dict[str, float], list]] = {}
        for r in range(args.rounds):
            for n in everies:
                s = timed(command(vids, work / f"cli-{n}-{r}", n), logs / f"infer-{n}-{r}.log", env)
                proc[n] = min(proc.get(n, s), s)
                inf = infs[n]
                inf.seconds.clear()
                t = time.perf_counter()
                res = list(inf.videos([vids], str(work / f"inf-{n}-{r}.zarr")))
                s = time.perf_counter() - t
                if not all(x.ok for x in res):
                    sys.exit(f"infer failed: {[x.error for x in res if not x.ok]}")
                if n not in inproc or s < inproc[n][0]:
                    inproc[n] = (s, dict(inf.seconds), [p for x in res for p in x.tracks])
        report(args, everies, proc, inproc, names, setup)
        crops_vs_truth(args, everies, vids, names)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report(args, everies, proc, inproc, names, setup) -> None:
    import torch
    from featurizer.faces import DEFAULT_DETECT_EVERY

    frames = sum(len(p.frames) for p in inproc[1][2])
    print(f"exprnet infer: {args.videos} videos x {args.seconds:g} s at 25 fps (320x240, one real face each, speech), "
          f"{frames} frames; models {args.models}; bundle lstm + baseline (vote); {os.cpu_count()} CPUs, torch "
          f"threads {torch.get_num_threads()}; best of {args.rounds} round(s); setup {setup:.0f} s, not timed\n")
    print(f"{'N':>3}{'process s':>11}{'speed-up':>10}{'in-process s':>14}{'speed-up':>10}{'faces s':>9}"
          f"{'faces share':>13}{'same expression':>17}{'max |dp|':>10}")
    base = {p.track: p for p in inproc[1][2]}
    for n in everies:
        s, stages, preds = inproc[n]
        same = np.mean([np.mean(p.labels == base[p.track].labels) for p in preds])
        dp = max(float(np.abs(p.probabilities - base[p.track].probabilities).max()) for p in preds)
        print(f"{n:>3}{proc[n]:>11.1f}{proc[1] / proc[n]:>9.2f}x{s:>14.1f}{inproc[1][0] / s:>9.2f}x"
              f"{stages.get('faces', 0.0):>9.1f}{stages.get('faces', 0.0) / s:>12.0%}{same:>17.1%}{dp:>10.3f}")
    print("\nstages (in process, s): " + "; ".join(
        f"N={n}: " + ", ".join(f"{k} {v:.1f}" for k, v in sorted(inproc[n][1].items())) for n in everies))
    d = DEFAULT_DETECT_EVERY
    if d in proc:
        print(f"\ntarget: exprnet infer >= 2.5x faster end to end at the default (N={d}): process "
              f"{proc[1] / proc[d]:.2f}x, in process {inproc[1][0] / inproc[d][0]:.2f}x")


def crops_vs_truth(args, everies, vids: Path, names: list[str]) -> None:
    """What the members are fed, against the truth (untimed): the videos' true landmarks are
    known, so each N's landmark error and the distance of its HOG rows to the HOG of crops cut at
    the true landmarks say whether tracking changed the input or the members are merely unstable."""
    from featurizer import create_extractor
    from featurizer.faces import align_face, load_detector
    from featurizer.faces.scan import indexed_frames, scan_video
    from featurizer.media.decode import probe_video

    from tests.featurizer.face_clips import talking_head

    hog, det = create_extractor("hog"), load_detector()
    n = int(round(args.seconds * 25))
    err: dict[int, list[float]] = {e: [] for e in everies}
    dist: dict[int, list[float]] = {e: [] for e in everies}
    for i, name in enumerate(names):
        who = ("hopper", "astronaut")[i % 2]
        truth = talking_head(n, who, amplitude=0.5).landmarks[who]
        video = vids / f"{name}.mp4"
        frames = [f for _, f in indexed_frames(video, probe_video(video).timestamps)]
        want = hog.extract_faces(np.stack([align_face(f, truth[k]) for k, f in enumerate(frames)]))
        for e in everies:
            t = scan_video(video, det, detect_every=e).tracks[""]
            got = hog.extract_faces(np.stack([align_face(frames[k], lm) for k, lm in zip(t.frames, t.landmarks, strict=True)]))
            err[e] += np.linalg.norm(t.landmarks - truth[t.frames], axis=2).mean(1).tolist()
            dist[e] += np.linalg.norm(got - want[t.frames], axis=1).tolist()
    print("\nwhat the members are fed (untimed): landmark error against the true landmarks, and the distance of "
          "the HOG rows to those of crops cut at the true landmarks")
    for e in everies:
        print(f"  N={e}: landmark error {np.mean(err[e]):.2f} px, HOG distance {np.mean(dist[e]):.3f}")


if __name__ == "__main__":
    main()
