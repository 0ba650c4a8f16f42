"""EXPR-alone training cost, this checkout beside another (main): frames/s and peak memory.

Issue 36 added VA and AU heads and per-task targets to the data path; a run with EXPR labels
alone must cost what it cost before (within 10%). This builds one synthetic store (EXPR labels,
plus VA and AU label arrays for the multi-task row), then runs the same Transformer training
steps in a fresh process per checkout (peak RSS is per process), alternating the checkouts
``--repeats`` times, and prints frames/s and peak RSS side by side with their ratios. A last row
trains the three tasks together in this checkout, for reference.

    uv run python bench/multitask_overhead.py --other /work/main
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

FEATURES = {"vis": 512, "aud": 256}


def build(root: Path, tracks: int, frames: int, seed: int = 0) -> None:
    from featurizer.core.annotations import (
        write_annotation,
        write_au_annotation,
        write_va_annotation,
    )
    from featurizer.core.store import FeatureStore

    rng = np.random.default_rng(seed)
    store = FeatureStore(root / "store.zarr")
    protos = {f: rng.standard_normal((8, d)) for f, d in FEATURES.items()}
    for k in range(tracks):
        t, split = f"video{k}", "Validation_Set" if k % 5 == 0 else "Train_Set"
        lab = np.repeat(rng.integers(0, 8, frames // 40 + 1), 40)[:frames].astype(np.int8)
        store.write_timeline(t, np.arange(frames) / 25.0, np.ones(frames, bool), {"source_video": f"{t}.mp4", "fps": 25.0})
        for f, d in FEATURES.items():
            x = 0.3 * protos[f][lab] + rng.standard_normal((frames, d))
            store.write_feature(t, f, x.astype(np.float32), np.ones(frames, bool),
                                {"extractor": f, "modality": "visual", "recipe_version": "bench",
                                 "timing": {"kind": "per_frame"}}, "float16")
        write_annotation(root / "EXPR_Set" / split / f"{t}.txt", lab)
        write_va_annotation(root / "VA_Set" / split / f"{t}.txt", np.tanh(rng.standard_normal((8, 2)))[lab])
        write_au_annotation(root / "AU_Set" / split / f"{t}.txt", (rng.random((8, 12)) < 0.3)[lab].astype(np.int8))


def worker(data: Path, labels: list[str], steps: int, threads: int) -> dict:
    """Runs in the checkout's own interpreter: load, then ``steps`` timed Transformer steps."""
    import torch
    from exprnet.config import build_config
    from exprnet.training.experiment import prepare
    from exprnet.training.runfolder import RunFolder
    from exprnet.training.trainer import Trainer

    torch.set_num_threads(threads)
    cfg = build_config({"data": {"store": str(data / "store.zarr"), "labels": labels if len(labels) > 1 else labels[0],
                                 "features": list(FEATURES)},
                        "model": {"encoder": "transformer"}, "train": {"batch_size": 8, "device": "cpu", "prefetch": 2}})
    prep = prepare(cfg)
    tr = Trainer(cfg, prep.bank, prep.split.train, prep.split.val, RunFolder(tempfile.mkdtemp(prefix="mt-bench-")))
    tr.setup(resume=False)
    tr.train_epoch(1, max_steps=2)  # warm-up
    row = tr.train_epoch(2, max_steps=steps)
    return {"frames_per_s": row["frames_per_s"], "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run(python: str, data: Path, labels: list[str], steps: int, threads: int) -> dict:
    out = subprocess.run([python, __file__, "--worker", str(data), "--steps", str(steps), "--threads", str(threads),
                          *sum((["--labels", x] for x in labels), [])], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--other", default="/work/main", help="the other checkout (its .venv is used)")
    ap.add_argument("--tracks", type=int, default=30)
    ap.add_argument("--frames", type=int, default=1500)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--labels", action="append", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        print(json.dumps(worker(Path(a.worker), a.labels, a.steps, a.threads)))
        return
    data = Path(tempfile.mkdtemp(prefix="mt-bench-data-"))
    build(data, a.tracks, a.frames)
    here, other = sys.executable, str(Path(a.other) / ".venv" / "bin" / "python")
    expr = [str(data / "EXPR_Set")]
    rows: dict[str, list[dict]] = {"this": [], "other": []}
    for _ in range(a.repeats):  # alternated: drift in the machine's load hits both alike
        rows["this"].append(run(here, data, expr, a.steps, a.threads))
        rows["other"].append(run(other, data, expr, a.steps, a.threads))
    multi = run(here, data, [expr[0], str(data / "VA_Set"), str(data / "AU_Set")], a.steps, a.threads)
    med = {k: {m: float(np.median([r[m] for r in v])) for m in ("frames_per_s", "rss_mib")} for k, v in rows.items()}
    print(f"{a.tracks} tracks x {a.frames} frames, {sum(FEATURES.values())} dims; Transformer (defaults), batch 8, "
          f"{a.steps} steps, {a.threads} thread(s); median of {a.repeats} alternated runs")
    print(f"{'':34}{'frames/s':>10}{'peak RSS MiB':>14}")
    print(f"{'EXPR alone, ' + a.other:34}{med['other']['frames_per_s']:>10,.0f}{med['other']['rss_mib']:>14,.0f}")
    print(f"{'EXPR alone, this checkout':34}{med['this']['frames_per_s']:>10,.0f}{med['this']['rss_mib']:>14,.0f}")
    print(f"{'ratio this / other':34}{med['this']['frames_per_s'] / med['other']['frames_per_s']:>10.3f}"
          f"{med['this']['rss_mib'] / med['other']['rss_mib']:>14.3f}")
    print(f"{'EXPR+VA+AU, this checkout':34}{multi['frames_per_s']:>10,.0f}{multi['rss_mib']:>14,.0f}")


if __name__ == "__main__":
    main()
