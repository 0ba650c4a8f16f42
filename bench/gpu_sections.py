"""bench/gpu.py's rows and its extraction and training sections (inference and tests: gpu_infer.py)."""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from gpu_infer import infer_rows, test_rows, tiny_weights

from tests.cuda.tolerance import BF16_TOLERANCE, family

__all__ = ["EXTRACTORS", "Rows", "expected_keys", "extract_rows", "infer_rows", "test_rows", "train_rows"]

EXTRACTORS = ("hubert:last", "densenet", "mae")  # an audio SSL model, a CNN, a ViT
SIZES = {False: {"seconds": 60.0, "crops": 1000, "naive_crops": 200, "rounds": 2},
         True: {"seconds": 1.0, "crops": 8, "naive_crops": 4, "rounds": 1}}
TRAIN = {False: {"cpu": 10, "device": 60, "gpu batch": 64}, True: {"cpu": 1, "device": 1, "gpu batch": 16}}




def expected_keys() -> list[str]:
    """Every row key a full run writes (tests/test_bench_gpu.py checks the JSON against it)."""
    keys = []
    for m in EXTRACTORS:
        keys += [f"extract/{m}/{k}" for k in ("pipeline auto", "bare auto", "pipeline fp32", "bare fp32",
                                               "naive loop", "pipeline / bare, auto", "pipeline / bare, fp32",
                                               "pipeline / naive", "auto rows vs fp32", "peak GPU memory")]
    keys += ["train/corpus", "train/cpu", "train/device", "train/device, GPU batch", "train/device / cpu",
             "train/device, GPU batch / cpu"]
    keys += ["infer/cpu end to end", "infer/cpu models loaded", "infer/device end to end",
             "infer/device models loaded", "infer/end to end, device / cpu", "infer/models loaded, device / cpu"]
    keys += ["tests/cuda"]
    return keys


class Rows:
    """The check's rows: a value, its unit, its target and whether it is met, peak GPU memory."""

    def __init__(self, dev: torch.device):
        self.dev, self.rows, self.errors = dev, [], []

    def add(self, key: str, value: float | None, unit: str, target: str = "", met: bool | None = None,
            peak: float | None = None, note: str = "") -> None:
        row = {"key": key, "value": value, "unit": unit, "target": target, "met": met,
               "peak_gpu_mib": None if peak is None else round(peak, 1), "note": note}
        self.rows.append(row)
        print(f"  {key}: {fmt(value)} {unit} {target} {'' if met is None else ('met' if met else 'NOT MET')} "
              f"{note}".rstrip(), flush=True)

    def ratio(self, key: str, num: float | None, den: float | None, at_least: float, note: str = "") -> None:
        v = num / den if num and den else None
        self.add(key, v, "x", f">= {at_least:g}x", None if v is None else v >= at_least, note=note)

    def failed(self, where: str, e: BaseException) -> None:
        line = f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"
        self.errors.append(f"{where}: {line}")
        self.add(f"{where}/error", None, "", "", False, note=line)

    @contextmanager
    def peak(self) -> Iterator[dict[str, float | None]]:
        """``out["mib"]``: the GPU memory peak inside (None on a CPU)."""
        out: dict[str, float | None] = {"mib": None}
        cuda = self.dev.type == "cuda"
        if cuda:
            torch.cuda.synchronize(self.dev)
            torch.cuda.reset_peak_memory_stats(self.dev)
        try:
            yield out
        finally:
            if cuda:
                torch.cuda.synchronize(self.dev)
                out["mib"] = torch.cuda.max_memory_allocated(self.dev) / 2**20
            gc.collect()
            if cuda:
                torch.cuda.empty_cache()

    def table(self, title: str) -> str:
        head = f"{'row':44} {'value':>10} {'unit':9} {'target':9} {'met':7} {'GPU MiB':>8}  note"
        lines = [title, head, "-" * len(head)]
        for r in self.rows:
            met = "" if r["met"] is None else ("met" if r["met"] else "NOT MET")
            peak = "" if r["peak_gpu_mib"] is None else f"{r['peak_gpu_mib']:.0f}"
            lines.append(f"{r['key'][:44]:44} {fmt(r['value']):>10} {r['unit'][:9]:9} {r['target']:9} {met:7} "
                         f"{peak:>8}  {r['note']}")
        return "\n".join(lines)


def fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and v.is_integer() and abs(v) >= 1 or v == 0:
        return f"{int(v):,}"
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 1 else f"{v:,.2f}" if abs(v) < 100 else f"{v:,.0f}"
    return str(v)


# -- 1. extraction --------------------------------------------------------------------------------
def extract_rows(rows: Rows, dev: torch.device, quick: bool, work: Path) -> None:
    from deep_runs import audio_runs, best, make_audio_clip, make_crops, visual_runs
    from featurizer.models.precision import auto_precision

    z = SIZES[quick]
    work.mkdir(parents=True, exist_ok=True)
    clip = make_audio_clip(work, z["seconds"])
    video, faces = make_crops(work, z["crops"])
    low = auto_precision(dev)
    weights = tiny_weights(work) if quick else dict.fromkeys(EXTRACTORS, "random")
    for m in EXTRACTORS:
        audio = family(m) == "audio"
        p = f"extract/{m}"
        try:
            with rows.peak() as peak:
                runs = (audio_runs(m, clip, None, work, str(dev), None, low, weights[m]) if audio else
                        visual_runs(m, video, faces, z["crops"], z["naive_crops"], None, work, str(dev), None, low,
                                    weights[m]))
                runs.pop("c-layer", None)
                runs.pop("warm")()  # kernels and plans for every batch shape, the allocator
                diff = runs.pop("diff")()
                times: dict[str, float] = {}
                for _ in range(z["rounds"]):
                    for k, fn in runs.items():
                        best(fn, times, k)
                del runs
        except Exception as e:  # noqa: BLE001 - the next model still runs
            rows.failed(p, e)
            continue
        n = z["seconds"] if audio else z["crops"]
        naive_n = z["seconds"] if audio else min(z["naive_crops"], z["crops"])
        t = {k: (naive_n if k == "c" else n) / s for k, s in times.items()}
        unit = "audio-s/s" if audio else "crops/s"
        rows.add(f"{p}/pipeline auto", t["a"], unit, note=f"{low}: featurizer's pipeline (decode/read, batch, write)")
        rows.add(f"{p}/bare auto", t["b16"], unit, note=f"{low}: the model's forward alone, input prepared before")
        rows.add(f"{p}/pipeline fp32", t["a32"], unit)
        rows.add(f"{p}/bare fp32", t["b"], unit)
        rows.add(f"{p}/naive loop", t["c"], unit, note="fp32 stock model; " + (
            "10 s zero-padded chunks, a full forward each" if audio else "one crop per forward, read in the loop"))
        rows.ratio(f"{p}/pipeline / bare, auto", t["a"], t["b16"], 0.8)
        rows.ratio(f"{p}/pipeline / bare, fp32", t["a32"], t["b"], 0.8)
        rows.ratio(f"{p}/pipeline / naive", t["a"], t["c"], 5, note="pipeline at auto, naive in fp32")
        tol = BF16_TOLERANCE[family(m)]
        rows.add(f"{p}/auto rows vs fp32", diff["max"], "max rel", f"<= {tol:g}", diff["max"] <= tol,
                 note=f"{low} vs fp32: median {diff['median']:.4f}; fp32 stored as float16: {diff['f16']:.5f}")
        rows.add(f"{p}/peak GPU memory", peak["mib"], "MiB", peak=peak["mib"])


# -- 2. training ----------------------------------------------------------------------------------
def train_rows(rows: Rows, dev: torch.device, quick: bool, work: Path) -> None:
    from exprnet.config import build_config
    from exprnet.config.presets import load_preset
    from exprnet.data.synthetic import SIZES as CORPORA
    from exprnet.data.synthetic import CorpusSpec, make_corpus
    from exprnet.training.experiment import prepare
    from exprnet.training.runfolder import RunFolder
    from exprnet.training.trainer import Trainer

    spec = CorpusSpec(n_tracks=12, frames=6_000) if quick else CORPORA["large"]
    t0 = time.perf_counter()
    c = make_corpus(work / "corpus", spec)
    data = {"data": {"store": str(c.store), "labels": str(c.labels), "features": list(c.features)}}
    prep = prepare(build_config(load_preset("recommended"), data, {"train": {"device": "cpu"}}))
    rows.add("train/corpus", float(prep.bank.values.shape[0]), "frames", note=(
        f"{len(c.tracks)} tracks x {sum(c.features.values())} dims, made and loaded in {time.perf_counter() - t0:.0f} s"))
    fps: dict[str, float] = {}
    z = TRAIN[quick]
    for label, device, batch in (("cpu", "cpu", None), ("device", str(dev), None),
                                 ("device, GPU batch", str(dev), z["gpu batch"])):
        cfg = build_config(load_preset("recommended"), data,
                           {"train": {"device": device, **({"batch_size": batch} if batch else {})}})
        try:
            with rows.peak() as peak:
                tr = Trainer(cfg, prep.bank, prep.split.train, prep.split.val, RunFolder(work / f"run-{len(fps)}"))
                tr.setup(resume=False)
                tr.train_epoch(1, max_steps=1 if quick else 3)  # warm-up: kernels, plans, the allocator
                r = tr.train_epoch(2, max_steps=z["cpu" if device == "cpu" else "device"])
                what = f"{tr.precision.name}, {tr.cfg.train.batch_size} x {tr.cfg.model.segment} frames a step"
                del tr
        except Exception as e:  # noqa: BLE001
            rows.failed(f"train/{label}", e)
            continue
        fps[label] = r["frames_per_s"]
        rows.add(f"train/{label}", r["frames_per_s"], "frames/s", peak=None if device == "cpu" else peak["mib"],
                 note=f"recommended (bilstm, R-Drop, CRF loss) on {device}: {what}; waited for data "
                      f"{100 * r['data_wait']:.0f}% of the time")
    rows.ratio("train/device / cpu", fps.get("device"), fps.get("cpu"), 10)
    rows.ratio("train/device, GPU batch / cpu", fps.get("device, GPU batch"), fps.get("cpu"), 10,
               note=f"{z['gpu batch']} segments a step (the preset's is 8)")
