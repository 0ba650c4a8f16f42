"""The device check: extraction, training and inference on a GPU against their targets, one process.

    python bench/gpu.py --out gpu.json                        # on a GPU: <= 8 minutes
    python bench/gpu.py --quick --device cpu --out quick.json  # the same code paths on a CPU, < 2 min

Measured side by side in one run, each figure beside its target, one table at the end, and the
same rows in ``--out`` (JSON):

1. extraction, three deep extractors at real size with random weights: ``hubert:last``
   (HuBERT-base, the whole transformer) on a 60 s clip, ``densenet`` (DenseNet-121) and ``mae``
   (ViT-B/16) on 1,000 aligned crops: featurizer's pipeline (``extract_source``: decode or crop
   reading, batching, alignment, Zarr write) against the bare forward on the same decoded input,
   both at ``--precision auto`` (bf16 where the device has it) and fp32, and against a naive
   per-video loop (a stock model, one crop or one 10 s chunk per forward); the largest relative
   row difference of auto against fp32 beside its documented tolerance (docs/extractors.md);
   targets: pipeline >= 0.8x bare, >= 5x naive (bench/extract_deep.py's runs, bench/deep_runs.py);
2. training: frames/s of the ``recommended`` preset on the large synthetic corpus
   (:mod:`exprnet.data.synthetic`, 300 tracks, 1.5M frames) on the device against the CPU, and
   with a GPU-sized batch (64 segments); target >= 10x;
3. ``exprnet infer`` end to end on 3 clips of 6 s (a real face moving like a talking head, a
   voice), a bundle over hubert + densenet, faces detected on the device (retinaface; the table
   says what ran its graph): seconds on the device against the CPU, the whole command (models
   loaded in it) and, models loaded beforehand, the Inferencer alone; target >= 5x;
4. the tests marked ``cuda`` (tests/cuda), run with ``pytest -m cuda``: their counts.

Peak GPU memory per row (``torch.cuda.max_memory_allocated``). A section that fails is a row
naming the error, and the others still run. ``--quick``: tiny inputs and corpora (a 2 s clip, 16
crops, a 6k-frame corpus, 1 s clips), everything else the same.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT)]

import torch  # noqa: E402
from gpu_sections import EXTRACTORS, Rows, extract_rows, infer_rows, test_rows, train_rows  # noqa: E402


def device_line(dev: torch.device) -> str:
    from featurizer.models.precision import auto_precision

    if dev.type == "cuda":
        p = torch.cuda.get_device_properties(dev)
        what = f"{p.name}, {p.total_memory / 2**30:.0f} GiB, {p.multi_processor_count} SMs"
    else:
        what = f"CPU ({torch.backends.cpu.get_cpu_capability()}), {torch.get_num_threads()} threads"
    return f"{dev}: {what}; torch {torch.__version__}; --precision auto = {auto_precision(dev)}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda", help="the device to check (cuda, cuda:N, or cpu)")
    ap.add_argument("--quick", action="store_true", help="tiny inputs: the code paths, not the speed")
    ap.add_argument("--out", type=Path, default=None, help="write the rows as JSON here")
    ap.add_argument("--sections", default="extract,train,infer,tests", help="which sections to run, in order")
    ap.add_argument("--work", type=Path, default=None, help="work folder (default: a temporary one, removed)")
    a = ap.parse_args(argv)
    from featurizer.core.device import resolve_device

    dev = resolve_device(a.device)
    sections = [s.strip() for s in a.sections.split(",") if s.strip()]
    work = a.work or Path(tempfile.mkdtemp(prefix="bench-gpu-"))
    work.mkdir(parents=True, exist_ok=True)
    rows = Rows(dev)
    t0 = time.perf_counter()
    print(device_line(dev), flush=True)
    steps: dict[str, Callable[[], None]] = {
        "extract": lambda: extract_rows(rows, dev, a.quick, work / "extract"),
        "train": lambda: train_rows(rows, dev, a.quick, work / "train"),
        "infer": lambda: infer_rows(rows, dev, a.quick, work / "infer"),
        "tests": lambda: test_rows(rows, dev),
    }
    def save(done: list[str]) -> None:  # after each section: a run cut short keeps what it measured
        if a.out:
            a.out.parent.mkdir(parents=True, exist_ok=True)
            a.out.write_text(json.dumps({"device": str(dev), "about": device_line(dev), "quick": a.quick,
                                         "sections": done, "seconds": round(time.perf_counter() - t0, 1),
                                         "extractors": list(EXTRACTORS), "rows": rows.rows}, indent=1))

    done: list[str] = []
    try:
        for name in sections:
            t = time.perf_counter()
            try:
                steps[name]()
            except Exception as e:  # noqa: BLE001 - one broken section must not hide the others
                traceback.print_exc()
                rows.failed(name, e)
            print(f"[{name}] {time.perf_counter() - t:.0f} s", flush=True)
            done.append(name)
            save(done)
    finally:
        if a.work is None:
            shutil.rmtree(work, ignore_errors=True)
    total = time.perf_counter() - t0
    print()
    print(rows.table(f"bench/gpu.py on {device_line(dev)}; {'quick, ' if a.quick else ''}{total:.0f} s"))
    if a.out:
        print(f"rows written to {a.out}")
    return 1 if rows.errors else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
