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
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch
from featurizer import create_extractor
from featurizer.core.device import has_native_bf16
from featurizer.core.store import FeatureStore
from featurizer.demo import draw_face, encode_video, voice
from featurizer.extraction.audio_rows import chunk_windows
from featurizer.extraction.write import extract_source
from featurizer.faces import CroppedAlignedFaces
from featurizer.media.decode import load_audio
from featurizer.media.inputs import SourcePlan, TrackPlan
from featurizer.models.precision import auto_precision, inference

FPS = 25


def make_audio_clip(root: Path, seconds: float) -> Path:
    n = int(seconds * FPS)
    rng = np.random.default_rng(0)
    labels = np.repeat(rng.integers(0, 8, n // 25 + 1), 25)[:n]
    frames = (np.full((32, 32, 3), 80, np.uint8) for _ in range(n))
    return encode_video(root / "clip.mp4", frames, FPS, voice(labels, rng))


def make_crops(root: Path, n: int) -> tuple[Path, Path]:
    """A video of ``n`` frames and ``cropped_aligned/crops/00001.jpg``... with drawn faces."""
    rng = np.random.default_rng(1)
    folder = root / "cropped_aligned" / "crops"
    folder.mkdir(parents=True)
    for i in range(n):
        img = np.full((112, 112, 3), rng.integers(40, 200), np.uint8)
        p = np.array([rng.uniform(-1, 1), rng.uniform(-0.5, 1), rng.uniform(0.5, 1.5),
                      rng.uniform(-1, 1), rng.uniform(0, 1), rng.uniform(0.6, 1.3)])
        draw_face(img, 56 + rng.normal(0, 3), 56 + rng.normal(0, 3), 1.0, p, (200, 170, 150))
        cv2.imwrite(str(folder / f"{i + 1:05d}.jpg"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    video = encode_video(root / "crops.mp4", (np.full((32, 32, 3), 80, np.uint8) for _ in range(n)), FPS)
    return video, root / "cropped_aligned"


def best(fn: Callable[[], None], store: dict[str, float], key: str) -> None:
    t0 = time.perf_counter()
    fn()
    store[key] = min(store.get(key, float("inf")), time.perf_counter() - t0)


def row_effects(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """How far bf16 rows ``b`` are from fp32 rows ``a`` (one row each), next to what storing
    ``a`` as float16 (the store's default) already costs: the largest and median row-wise relative
    difference, the float16 cast's largest, and the share of rows whose nearest other row (cosine)
    is the same in both: a proxy of what a model trained on the rows sees."""
    def rel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.linalg.norm(x - y, axis=1) / np.maximum(np.linalg.norm(x, axis=1), 1e-12)

    def nearest(x: np.ndarray) -> np.ndarray:
        u = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        sim = u @ u.T
        np.fill_diagonal(sim, -np.inf)
        return sim.argmax(1)

    r = rel(a, b)
    return {"max": float(r.max()), "median": float(np.median(r)),
            "f16": float(rel(a, a.astype(np.float16).astype(np.float32)).max()),
            "nn": float(np.mean(nearest(a) == nearest(b))) if len(a) > 2 else float("nan")}


def bare_runs(device: torch.device, batches: list[torch.Tensor], forward: Callable) -> dict[str, Callable]:
    """(b) and (b16): the forward alone on the prepared batches in fp32 and in bf16, and ``diff``,
    :func:`row_effects` of bf16 on every row of the batches."""
    def bare(precision: str) -> Callable[[], None]:
        def run() -> None:
            with inference(device, precision):
                for x in batches:
                    forward(x)
        return run

    def diff() -> dict[str, float]:
        rows = []
        for precision in ("fp32", "bf16"):
            with inference(device, precision):
                ys = [forward(x).float().numpy() for x in batches]
            rows.append(np.concatenate([y.reshape(-1, y.shape[-1]) for y in ys]))
        return row_effects(*rows)

    return {"b": bare("fp32"), "b16": bare("bf16"), "diff": diff}


# -- audio ----------------------------------------------------------------------------------------
def audio_runs(name: str, video: Path, batch_size: int | None, work: Path) -> dict[str, Callable[[], None]]:
    ex = create_extractor(name, weights="random", device="cpu", **({"batch_size": batch_size} if batch_size else {}))
    plan = SourcePlan(video, [TrackPlan("clip")])
    audio = load_audio(video)
    wave, sr = audio.samples, audio.sample_rate

    def pipeline() -> None:
        store = FeatureStore(str(work / f"a-{name.replace(':', '_')}-{time.monotonic_ns()}.zarr"))
        (r,) = extract_source(plan, [ex], store, overwrite=True)
        assert r.status == "done", r.error

    # (b) the windows the pipeline makes, normalised and batched beforehand
    if ex.max_chunk_seconds is None or audio.duration <= ex.max_chunk_seconds:
        spans = [(0, len(wave))]
    else:
        ctx = max(ex.chunk_context_seconds, ex.timing.window / 2 + ex.timing.hop)
        spans = [(w.start, w.end) for w in chunk_windows(len(wave), sr, ex.max_chunk_seconds, ctx,
                                                          round(ex.timing.hop * sr))]
    by_len: dict[int, list[np.ndarray]] = {}
    for s, e in spans:
        w = wave[s:e]
        by_len.setdefault(e - s, []).append((w - w.mean()) / np.sqrt(w.var() + 1e-7))
    batches = [torch.from_numpy(np.stack(ws[b : b + ex.batch_size]))
               for ws in by_len.values() for b in range(0, len(ws), ex.batch_size)]

    # (c) a stock model with the same weights, 10 s zero-padded chunks, one forward each
    import transformers

    stock = transformers.AutoModel.from_config(ex.model.config).eval()
    stock.load_state_dict(ex.model.state_dict(), strict=False)  # the extractor may have dropped layers
    layer = ex.layer_spec

    def naive(full: bool) -> Callable[[], None]:
        def run() -> None:
            w = load_audio(video).samples
            step = 10 * sr
            with torch.no_grad():
                for s in range(0, len(w), step):
                    chunk = np.zeros(step, np.float32)
                    part = w[s : s + step]
                    chunk[: len(part)] = part
                    x = torch.from_numpy((chunk - chunk.mean()) / np.sqrt(chunk.var() + 1e-7))[None]
                    if layer == "cnn" and not full:
                        stock.feature_extractor(x)
                    else:
                        out = stock(x, output_hidden_states=True)
                        if layer == "cnn":
                            stock.feature_extractor(x)  # HuBERT returns no conv features: run it again
                        else:
                            _ = out.last_hidden_state
        return run

    def warm() -> None:
        with inference(ex.device):
            for x in {tuple(x.shape): x for x in batches}.values():
                ex._hidden(x)

    return {"warm": warm, "a": pipeline, **bare_runs(ex.device, batches, ex._hidden), "c": naive(True),
            "c-layer": naive(False)}


# -- visual ---------------------------------------------------------------------------------------
def visual_runs(name: str, video: Path, faces: Path, n: int, naive_n: int, batch_size: int | None,
                work: Path) -> dict[str, Callable[[], None]]:
    torch.manual_seed(0)  # the stock copy below is built with the same random weights
    ex = create_extractor(name, weights="random", device="cpu", **({"batch_size": batch_size} if batch_size else {}))
    plan = SourcePlan(video, [TrackPlan("crops")])
    src = CroppedAlignedFaces(faces)
    files = sorted((faces / "crops").glob("*.jpg"))[:n]

    def pipeline() -> None:
        store = FeatureStore(str(work / f"v-{name}-{time.monotonic_ns()}.zarr"))
        (r,) = extract_source(plan, [ex], store, src, overwrite=True)
        assert r.status == "done", r.error

    crops = np.stack([cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB) for f in files])
    with torch.inference_mode():
        batches = [ex.preprocess(crops[b : b + ex.batch_size]) for b in range(0, len(crops), ex.batch_size)]

    stock = _stock_visual(name, ex)
    mean = np.array(ex.pre.mean, np.float32) * 255
    std = np.array(ex.pre.std, np.float32) * 255
    size = ex.pre.size

    def naive() -> None:
        with torch.no_grad():
            for f in files[:naive_n]:
                img = cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB)
                if img.shape[0] != size:
                    img = cv2.resize(img, (size, size), interpolation=cv2.INTER_CUBIC)
                x = torch.from_numpy(((img.astype(np.float32) - mean) / std).transpose(2, 0, 1).copy())[None]
                stock(x)

    def warm() -> None:
        ex.extract_faces(crops[: ex.batch_size])
        ex.extract_faces(crops[: len(crops) % ex.batch_size or ex.batch_size])
        with torch.no_grad():
            stock(batches[0][:1].contiguous())

    return {"warm": warm, "a": pipeline, **bare_runs(ex.device, batches, ex.forward), "c": naive}


def _stock_visual(name: str, ex) -> torch.nn.Module:
    """The same architecture and weights as built by a plain script: no fusing, NCHW."""
    if name in ("ires100", "fau"):
        from featurizer.models.extractors._iresnet_arch import build

        torch.manual_seed(0)
        return build().eval()  # random weights like the extractor's; same compute
    import timm

    m = timm.create_model(ex.architecture.split()[-1], pretrained=False, num_classes=0).eval()
    m.load_state_dict(ex.model.state_dict())
    return m


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
