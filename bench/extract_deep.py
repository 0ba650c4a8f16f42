"""Throughput of the pretrained-model extractors: pipeline vs bare forward vs a naive loop.

Real-size architectures with random weights (``--weights NAME=random``), on CPU:
hubert-base on a ``--seconds`` clip (default 60 s; layer ``cnn``, the paper's 512-d default;
add ``hubert:last`` to ``--models`` for the transformer), densenet121 and ires100 on ``--crops``
aligned 112x112 crops (default 1,000; the naive loop runs ``--naive-crops`` of them).

For each model:

(a) pipeline: ``extract_source`` on the encoded video (probe, audio decode or threaded crop
    reading, chunking and batching, alignment, Zarr write); models loaded beforehand;
(b) bare: the same extractor's model forward only, on tensors decoded, preprocessed and batched
    beforehand (the same chunks / batches the pipeline makes);
(b16) bare in bf16: the same forward under ``--precision bf16`` (autocast, as the extractors'
    ``precision`` option runs it), on the same CPU, interleaved with (b); the table also gives how
    far its rows are from fp32's (largest and median relative difference, beside what storing fp32
    rows as float16 costs, and the share of rows keeping their nearest neighbour);
(c) naive: one video at a time, stock model (fresh build, default layout, ``torch.no_grad``),
    one crop per forward with the crop read and preprocessed in the loop, audio in 10 s
    zero-padded chunks with a full forward per chunk (``output_hidden_states``, as MERTools-style
    scripts do); ``c-layer`` also shows the naive loop running only what the layer needs.

Throughput: seconds of audio per second, or crops per second. Each measurement runs ``--rounds``
times, interleaved; the best of each is kept (the machine is shared and noisy). Targets:
a/b >= 0.8 (within 25%) and a/c >= 2. b16/b says what bf16 buys on this CPU (without AVX512-BF16
or AMX it is emulated and slower; the first line says what ``--precision auto`` picks here).

    uv run python bench/extract_deep.py [--seconds 60] [--crops 1000] [--naive-crops 250]
        [--models hubert:cnn,densenet,ires100] [--rounds 2] [--batch-size N]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import torch
from deep_runs import audio_runs, best, make_audio_clip, make_crops, visual_runs
from featurizer.core.device import has_native_bf16
from featurizer.models.precision import auto_precision


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0, help="audio clip length")
    ap.add_argument("--crops", type=int, default=1000, help="face crops for the visual models")
    ap.add_argument("--naive-crops", type=int, default=250, help="crops the naive visual loop runs")
    ap.add_argument("--models", default="hubert:cnn,densenet,ires100",
                    help="e.g. add hubert:last, wav2vec, mae, mobilenet")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved repeats (best kept)")
    ap.add_argument("--batch-size", type=int, default=None)
    args = ap.parse_args()
    torch.manual_seed(0)
    work = Path(tempfile.mkdtemp(prefix="bench-deep-"))
    rows = []
    try:
        models = [m.strip() for m in args.models.split(",") if m.strip()]
        clip = make_audio_clip(work, args.seconds) if any(m.startswith(("hubert", "wav2vec")) for m in models) else None
        vid, faces = make_crops(work, args.crops) if any(not m.startswith(("hubert", "wav2vec")) for m in models) else (None, None)
        cpu = torch.device("cpu")
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU "
              f"({torch.backends.cpu.get_cpu_capability()}; native bf16: {has_native_bf16(cpu)}, so "
              f"--precision auto = {auto_precision(cpu)}); audio {args.seconds:g} s, {args.crops} crops "
              f"(naive: {min(args.naive_crops, args.crops)})", flush=True)
        for m in models:
            audio = m.startswith(("hubert", "wav2vec"))
            runs = (audio_runs(m, clip, args.batch_size, work) if audio else
                    visual_runs(m, vid, faces, args.crops, args.naive_crops, args.batch_size, work))
            amount = {k: (args.seconds if audio else
                          (min(args.naive_crops, args.crops) if k.startswith("c") else args.crops))
                      for k in runs if k not in ("warm", "diff")}
            times: dict[str, float] = {}
            runs.pop("a32")  # bench/gpu.py times it; here the pipeline runs in auto only
            runs.pop("warm")()  # oneDNN primitives for every batch shape, allocator
            diff = runs.pop("diff")()
            for _ in range(args.rounds):
                for k, fn in runs.items():
                    best(fn, times, k)
            tput = {k: amount[k] / times[k] for k in amount}
            unit = "audio-s/s" if audio else "crops/s"
            rows.append((m, unit, tput, diff))
            print(f"  {m}: " + ", ".join(f"{k} {v:.2f} {unit}" for k, v in tput.items()), flush=True)
        print()
        print(f"{'model':14} {'unit':10} {'(a) pipeline':>13} {'(b) bare':>10} {'(c) naive':>10} "
              f"{'c-layer':>9} {'a/b':>6} {'a/c':>6} {'a/c-layer':>10} {'(b16) bf16':>11} {'b16/b':>6} "
              f"{'bf16 max':>9} {'median':>7} {'f16 max':>8} {'same nn':>8}")
        for m, unit, t, diff in rows:
            cl = t.get("c-layer")
            print(f"{m:14} {unit:10} {t['a']:13.2f} {t['b']:10.2f} {t['c']:10.2f} "
                  f"{(f'{cl:9.2f}' if cl else '        -')} {t['a'] / t['b']:6.2f} {t['a'] / t['c']:6.2f} "
                  f"{(f'{t[chr(97)] / cl:10.2f}' if cl else '         -')} {t['b16']:11.2f} "
                  f"{t['b16'] / t['b']:6.2f} {diff['max']:9.4f} {diff['median']:7.4f} {diff['f16']:8.5f} "
                  f"{diff['nn']:8.3f}")
        print("\ntargets: a/b >= 0.80 (pipeline within 25% of the bare forward), a/c >= 2.0; "
              "b16/b: bf16 over fp32 speed on this CPU; bf16 max / median: relative row difference "
              "from fp32; f16 max: the same for fp32 rows stored as float16 (the store's default); "
              "same nn: rows whose nearest other row is the same in bf16 as in fp32")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
