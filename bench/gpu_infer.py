"""bench/gpu.py's inference and test sections: `exprnet infer` on the device against the CPU, and
the tests marked ``cuda`` run in this process."""

from __future__ import annotations

import collections
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tests.featurizer.face_clips import talking_head

ROOT = Path(__file__).resolve().parents[1]
FPS = 25
MODELS = "hubert,densenet"  # real size, random weights: speech SSL and a CNN on the detected faces
TRAIN = {"train1": ("astronaut", "Train_Set"), "train2": ("hopper", "Train_Set"),
         "train3": ("astronaut", "Train_Set"), "val1": ("hopper", "Validation_Set")}


def _clip(path: Path, n: int, face: str, seed: int, amplitude: float = 0.5) -> None:
    from featurizer.demo import encode_video, voice

    rng = np.random.default_rng(seed)
    labels = np.repeat(rng.integers(0, 8, n // 25 + 1), 25)[:n]
    encode_video(path, talking_head(n, face, amplitude=amplitude).frames, FPS, voice(labels, rng))


def tiny_weights(work: Path) -> dict[str, str]:
    """``--quick``: each model's architecture family, tiny, saved in its real format (the tests'
    fixtures), instead of the real size with random weights."""
    from tests.featurizer.conftest_deep import TIMM_TINY, save_speech_folder, save_timm_folder

    # 16 channels per group in the positional conv: fewer break oneDNN's bf16 (docs/extractors.md)
    w = {"hubert:last": save_speech_folder(work / "tiny-hubert", "hubert", num_conv_pos_embedding_groups=2)}
    for name in ("densenet", "mae"):
        arch, kw = TIMM_TINY[name]
        w[name] = save_timm_folder(work / f"tiny-{name}", arch, **kw)
    return {k: str(v) for k, v in w.items()}


def ok(app: Any, *args: object) -> None:
    """A CLI command in this process; its failure raises (the section's row names it)."""
    from typer.testing import CliRunner

    r = CliRunner().invoke(app, [str(a) for a in args])
    if r.exit_code != 0:
        cause = "" if r.exception is None or isinstance(r.exception, SystemExit) else repr(r.exception)
        raise RuntimeError(f"{' '.join(map(str, args[:2]))} failed ({r.exit_code}): "
                           f"{' '.join((r.output + cause).split())[-600:]}")


def make_bundle(work: Path, weights: dict[str, str], n_frames: int) -> Path:
    """A bundle (an LSTM trained 1 epoch + the baseline, vote) over :data:`MODELS`, made on the CPU
    from 4 short clips; its quality does not matter here, its cost does."""
    from exprnet.cli import app as exprnet_app
    from featurizer.cli import app as featurizer_app
    from featurizer.core.annotations import write_annotation

    from tests.e2e.conftest import label_runs

    rng = np.random.default_rng(0)
    for k, (track, (face, split)) in enumerate(TRAIN.items()):
        _clip(work / "train" / f"{track}.mp4", n_frames, face, k, amplitude=0.7)
        lab = label_runs(n_frames, rng)
        lab[k % n_frames] = k % 8
        write_annotation(work / "labels" / split / f"{track}.txt", lab)
    wflags = [a for k, v in weights.items() for a in ("--weights", f"{k}={v}")]
    store, labels, runs = work / "train.zarr", work / "labels", work / "runs"
    ok(featurizer_app, "extract", work / "train", "--labels", labels, "--model", MODELS, *wflags, "--out", store)
    ok(exprnet_app, "train", "--store", store, "--labels", labels, "--features", MODELS, "--encoder", "lstm",
       "--out", runs / "lstm", "--epochs", 1, "--device", "cpu", "--no-baseline")
    ok(exprnet_app, "baseline", "--store", store, "--labels", labels, "--features", MODELS, "--out", runs / "baseline")
    ok(exprnet_app, "bundle", runs / "lstm", runs / "baseline", "--method", "vote", "--store", store,
       "--labels", labels, "--out", work / "bundle", "--device", "cpu")
    return work / "bundle"


def infer_rows(rows: Any, dev: torch.device, quick: bool, work: Path) -> None:
    from exprnet.cli import app as exprnet_app
    from exprnet.deploy.bundle import Bundle
    from exprnet.deploy.infer import Inferencer
    from featurizer.faces import load_detector

    work.mkdir(parents=True, exist_ok=True)
    if quick:
        tiny = tiny_weights(work)
        weights = {"hubert": tiny["hubert:last"], "densenet": tiny["densenet"]}
    else:
        weights = {"hubert": "random", "densenet": "random"}
    wflags = [a for k, v in weights.items() for a in ("--weights", f"{k}={v}")]
    bundle = make_bundle(work, weights, 16 if quick else 80)
    n = 10 if quick else 150  # 3 clips of 0.4 s / 6 s
    vids = work / "videos"
    for i in range(3):
        _clip(vids / f"new{i + 1}.mp4", n, ("hopper", "astronaut")[i % 2], 10 + i)
    warm = work / "warm"
    warm.mkdir()
    shutil.copy(work / "train" / "train1.mp4", warm / "warm.mp4")
    took: dict[str, dict[str, float]] = collections.defaultdict(dict)
    for label, device in (("cpu", "cpu"), ("device", str(dev))):
        try:
            with rows.peak() as peak:
                t0 = time.perf_counter()
                ok(exprnet_app, "infer", vids, "--bundle", bundle, "--out", work / f"out-{label}", "--device", device,
                   *wflags)
                took[label]["end to end"] = time.perf_counter() - t0
                inf = Inferencer(Bundle.load(bundle, device=device), weights, device)
                inf.load()
                assert all(r.ok for r in inf.videos([warm], str(work / f"warm-{label}.zarr")))
                t0 = time.perf_counter()
                res = list(inf.videos([vids], str(work / f"inf-{label}.zarr")))
                took[label]["models loaded"] = time.perf_counter() - t0
                assert all(r.ok for r in res), [r.error for r in res if not r.ok]
                frames = sum(len(p.frames) for r in res for p in r.tracks)
                runtime = getattr(load_detector(inf.detector, None if device == "cpu" else device), "runtime", "")
                del inf
        except Exception as e:  # noqa: BLE001
            rows.failed(f"infer/{label}", e)
            continue
        gpu_peak = None if device == "cpu" else peak["mib"]
        rows.add(f"infer/{label} end to end", took[label]["end to end"], "s", peak=gpu_peak,
                 note=f"`exprnet infer` on 3 clips ({frames} frames) on {device}, models loaded in it")
        rows.add(f"infer/{label} models loaded", took[label]["models loaded"], "s", peak=gpu_peak,
                 note=f"Inferencer.videos: faces ({inf_detector_note(runtime)}), {MODELS}, members, post")
    e2e, loaded = (took.get(k, {}) for k in ("cpu", "device"))
    rows.ratio("infer/end to end, device / cpu", e2e.get("end to end"), loaded.get("end to end"), 5,
               note="CPU seconds over device seconds")
    rows.ratio("infer/models loaded, device / cpu", e2e.get("models loaded"), loaded.get("models loaded"), 5)


def inf_detector_note(runtime: str) -> str:
    return f"retinaface under {runtime}" if runtime else "retinaface"


class _Count:
    """Outcomes of the tests pytest runs in this process (a setup that skips or fails counts)."""

    def __init__(self) -> None:
        self.n: collections.Counter[str] = collections.Counter()
        self.failed: list[str] = []
        self.reasons: set[str] = set()

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
            self.n[report.outcome] += 1
            if report.outcome == "failed":
                self.failed.append(report.nodeid.split("::")[-1])
            if report.outcome == "skipped" and isinstance(report.longrepr, tuple):
                self.reasons.add(str(report.longrepr[2]).removeprefix("Skipped: "))


def test_rows(rows: Any, dev: torch.device) -> None:
    import pytest

    count = _Count()
    t0 = time.perf_counter()
    os.environ["PYTEST_KEEP_TEARDOWN"] = "1"  # tests/conftest.py would end this process after the tests
    code = pytest.main(["-q", "-m", "cuda", "-p", "no:cacheprovider", "--rootdir", str(ROOT),
                        "-c", str(ROOT / "pyproject.toml"), str(ROOT / "tests" / "cuda")], plugins=[count])
    n = count.n
    ran = n["passed"] + n["failed"]
    note = (f"{n['failed']} failed, {n['skipped']} skipped, exit {int(code)}, {time.perf_counter() - t0:.0f} s"
            + (f"; failed: {', '.join(count.failed[:8])}" if count.failed else "")
            + (f"; skipped: {'; '.join(sorted(count.reasons))[:200]}" if count.reasons else ""))
    rows.add("tests/cuda", float(n["passed"]), "passed", "all pass",
             (n["failed"] == 0 and ran > 0) if dev.type == "cuda" else None, note=note)
