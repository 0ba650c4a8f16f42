"""The pieces of bench/extract_deep.py's measurements, shared with bench/gpu.py: clips and crops
made for the models, and for one model (on any device, at any precision): (a) the pipeline, (b)
the bare forward in fp32 and (b16) in a lower precision, how far that precision's rows are from
fp32's, and (c) a naive per-video loop (see bench/extract_deep.py for what each one is).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch
from featurizer import create_extractor
from featurizer.core.store import FeatureStore
from featurizer.demo import draw_face, encode_video, voice
from featurizer.extraction.audio_rows import chunk_windows
from featurizer.extraction.write import extract_source
from featurizer.faces import CroppedAlignedFaces
from featurizer.media.decode import load_audio
from featurizer.media.inputs import SourcePlan, TrackPlan
from featurizer.models.precision import inference

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


def synced(device: torch.device, fn: Callable[[], None]) -> Callable[[], None]:
    """``fn`` timed to the end of its GPU work (CUDA runs asynchronously)."""
    if device.type != "cuda":
        return fn

    def run() -> None:
        fn()
        torch.cuda.synchronize(device)
    return run


def bare_runs(device: torch.device, batches: list[torch.Tensor], forward: Callable, low: str = "bf16"
              ) -> dict[str, Callable]:
    """(b) and (b16): the forward alone on the prepared batches in fp32 and in ``low`` (bf16),
    and ``diff``, :func:`row_effects` of ``low`` on every row of the batches."""
    def bare(precision: str) -> Callable[[], None]:
        def run() -> None:
            with inference(device, precision):
                for x in batches:
                    forward(x)
        return synced(device, run)

    def diff() -> dict[str, float]:
        rows = []
        for precision in ("fp32", low):
            with inference(device, precision):
                ys = [forward(x).float().cpu().numpy() for x in batches]
            rows.append(np.concatenate([y.reshape(-1, y.shape[-1]) for y in ys]))
        return row_effects(*rows)

    return {"b": bare("fp32"), "b16": bare("bf16"), "diff": diff}


# -- audio ----------------------------------------------------------------------------------------
def audio_runs(name: str, video: Path, batch_size: int | None, work: Path, device: str = "cpu",
               precision: str | None = None, low: str = "bf16", weights: str = "random"
               ) -> dict[str, Callable[[], None]]:
    """(a), (b), (b16), (c), c-layer and a warm-up for an audio model; ``a32``: (a) in fp32."""
    ex = create_extractor(name, weights=weights, device=device, precision=precision,
                          **({"batch_size": batch_size} if batch_size else {}))
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
    batches = [torch.from_numpy(np.stack(ws[b : b + ex.batch_size])).to(ex.device)
               for ws in by_len.values() for b in range(0, len(ws), ex.batch_size)]

    # (c) a stock model with the same weights, 10 s zero-padded chunks, one forward each
    import transformers

    stock = transformers.AutoModel.from_config(ex.model.config).eval()
    stock.load_state_dict(ex.model.state_dict(), strict=False)  # the extractor may have dropped layers
    stock.to(ex.device)
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
                    x = torch.from_numpy((chunk - chunk.mean()) / np.sqrt(chunk.var() + 1e-7))[None].to(ex.device)
                    if layer == "cnn" and not full:
                        stock.feature_extractor(x)
                    else:
                        out = stock(x, output_hidden_states=True)
                        if layer == "cnn":
                            stock.feature_extractor(x)  # HuBERT returns no conv features: run it again
                        else:
                            _ = out.last_hidden_state.cpu()
        return synced(ex.device, run)

    def warm() -> None:
        with inference(ex.device):
            for x in {tuple(x.shape): x for x in batches}.values():
                ex._hidden(x)

    return {"warm": warm, "a": pipeline, "a32": in_fp32(ex, pipeline), **bare_runs(ex.device, batches, ex._hidden, low),
            "c": naive(True), "c-layer": naive(False)}


def in_fp32(ex, pipeline: Callable[[], None]) -> Callable[[], None]:
    """(a) with the extractor in fp32, whatever it was built with."""
    def run() -> None:
        before, ex.precision = ex.precision, "fp32"
        try:
            pipeline()
        finally:
            ex.precision = before
    return run


# -- visual ---------------------------------------------------------------------------------------
def visual_runs(name: str, video: Path, faces: Path, n: int, naive_n: int, batch_size: int | None,
                work: Path, device: str = "cpu", precision: str | None = None, low: str = "bf16",
                weights: str = "random") -> dict[str, Callable[[], None]]:
    """(a), (b), (b16), (c) and a warm-up for a face-crop model; ``a32``: (a) in fp32."""
    ex = create_extractor(name, weights=weights, device=device, precision=precision,
                          **({"batch_size": batch_size} if batch_size else {}))
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

    stock = _stock_visual(name, ex).to(ex.device)
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
                stock(x.to(ex.device)).cpu()  # a script keeps each crop's row

    def warm() -> None:
        ex.extract_faces(crops[: ex.batch_size])
        ex.extract_faces(crops[: len(crops) % ex.batch_size or ex.batch_size])
        with torch.no_grad():
            stock(batches[0][:1].contiguous())

    return {"warm": warm, "a": pipeline, "a32": in_fp32(ex, pipeline), **bare_runs(ex.device, batches, ex.forward, low),
            "c": naive}


def _stock_visual(name: str, ex) -> torch.nn.Module:
    """The same architecture and weights as a plain script has them: the extractor's module,
    copied, in the default (NCHW) layout and float32 (whatever weights it was given)."""
    return copy.deepcopy(ex.model).to(memory_format=torch.contiguous_format).float().eval()
