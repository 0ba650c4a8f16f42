"""From videos to stored features: one decode per source video, every model, atomic writes.

``compute_source`` yields the features of one source video's tracks in memory (the HTTP service
uses it as it is); ``extract`` writes them to a store, skipping complete arrays, so a killed run
resumes, and reports every failed input without stopping the others.

Overlap: face crops are read (or detected) on a background thread at most ``CROP_QUEUE`` batches
of ``CROP_WINDOW`` crops ahead of the models (bounded memory), and ``extract`` probes and decodes
the next video's audio while the models run on the current one. Audio chunks of a track are
batched (``audio_rows.hop_rows``).
"""

from __future__ import annotations

import contextlib
import os
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .audio_rows import hop_rows
from .core.ahead import Ahead
from .core.store import FeatureStore
from .errors import FeaturizerError, MediaError, NoAudioError, UnknownModelError
from .faces import FaceSource, face_source
from .media import Audio, VideoInfo, find_videos, load_audio, probe_video
from .progress import NoProgress, Progress
from .registry import Extractor, create_extractor, get_spec, parse_model_list
from .timeline import Timeline, align_rows, fill_nearest
from .tracks import SourcePlan, TrackPlan, plan_sources

CROP_WINDOW = 256  # crops per batch handed to the visual models
CROP_QUEUE = 2  # batches read ahead of the models


@dataclass
class TrackFeatures:
    track: str
    model: str
    values: np.ndarray  # (n, dim) float32
    present: np.ndarray  # (n,) bool
    provenance: dict


@dataclass
class TrackResult:
    track: str
    video: str
    status: str  # "done", "skipped", "failed"
    frames: int = 0
    models: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None


@dataclass
class RunReport:
    results: list[TrackResult] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)  # input -> reason (not mapped / failed)
    seconds: float = 0.0

    @property
    def failed(self) -> list[TrackResult]:
        return [r for r in self.results if r.status == "failed"]

    @property
    def ok(self) -> bool:
        return not self.failed and not self.problems


def load_extractors(models: list[str], weights: dict[str, str] | None = None,
                    device: str | None = None, batch_size: int | None = None) -> list[Extractor]:
    """Build the extractors; ``weights`` is keyed by name (``hubert:cnn`` falls back to ``hubert``).

    ``device`` and ``batch_size`` go to the extractors that take them; one that no selected
    extractor takes (``--batch-size`` with only openSMILE, say) is an error, as are weights for a
    model that is not selected.
    """
    weights = weights or {}
    names = parse_model_list(models)
    specs = {m: get_spec(m) for m in names}
    common = {"device": None if device in (None, "cpu") else device, "batch_size": batch_size}
    for key, value in common.items():
        if value is not None and not any(s.takes(key) for s in specs.values()):
            raise UnknownModelError(f"--{key.replace('_', '-')} {value}", f"none of {', '.join(names)} takes it",
                                    "leave it out, or select a model that does (`featurizer models --json`)")
    bases = {m.partition(":")[0] for m in names} | set(names)
    for w in weights:
        if w not in bases:
            raise UnknownModelError(f"--weights {w}=...", f"{w} is not among the selected models ({', '.join(names)})",
                                    "add it to --model, or drop its --weights")
    out = []
    for m, spec in specs.items():
        given = {"weights": weights.get(m, weights.get(m.partition(":")[0])), **common}
        if device == "cpu":
            given["device"] = "cpu"
        out.append(create_extractor(m, **{k: v for k, v in given.items() if spec.takes(k)}))
    return out


@dataclass
class Prefetched:
    """A source video probed and its audio decoded ahead of time (errors kept for later)."""

    info: VideoInfo | None = None
    error: BaseException | None = None
    audio: Audio | None = None
    audio_error: BaseException | None = None
    audio_loaded: bool = False


def prefetch_source(plan: SourcePlan, need_audio: bool) -> Prefetched:
    try:
        info = probe_video(plan.video)
    except Exception as e:  # noqa: BLE001 - re-raised where the video is processed
        return Prefetched(error=e)
    out = Prefetched(info=info)
    if need_audio:
        out.audio_loaded = True
        try:
            out.audio = load_audio(plan.video)
        except Exception as e:  # noqa: BLE001
            out.audio_error = e
    return out


def track_timeline(plan: TrackPlan, info: VideoInfo) -> Timeline:
    return Timeline.from_video(plan.track, info.timestamps, plan.n_labels)


def _mask_past_video(tl: Timeline, values: np.ndarray, present: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows past the video's end take its last frame's values and are not present."""
    if tl.frame_present.all():
        return values, present
    last = int(np.flatnonzero(tl.frame_present)[-1])
    values[~tl.frame_present] = values[last]
    return values, present & tl.frame_present


def _audio_features(ex: Extractor, audio: Audio | None, timelines: list[Timeline],
                    cache: dict) -> Iterator[tuple[Timeline, np.ndarray, np.ndarray]]:
    for tl in timelines:
        if audio is None:
            yield tl, np.zeros((tl.n, ex.dim), np.float32), np.zeros(tl.n, bool)
            continue
        if ex.timing.kind == "frame_window":
            # tracks of one video with the same frames (X_left, X_right) share the result
            key = (ex.name, tl.timestamps.tobytes())
            if key not in cache:
                cache[key] = np.asarray(ex.extract_windows(
                    audio.samples, audio.sample_rate, tl.timestamps - audio.start), np.float32)
            vals = cache[key].copy()
            # a window near either end of the audio is shifted inside it: the frame is present
            # when its timestamp has audio
            present = (tl.timestamps >= audio.start - 1e-9) & (
                tl.timestamps <= audio.start + audio.duration + 1e-9)
        else:
            if ex.name not in cache:  # once per source video, shared by its tracks
                cache[ex.name] = hop_rows(ex, audio)
            rows, centres = cache[ex.name]
            vals, present = align_rows(rows, centres, tl.timestamps)
        yield tl, *_mask_past_video(tl, vals, present)


def crop_batches(faces: FaceSource, tl: Timeline, video: Path,
                 size: int = CROP_WINDOW) -> Iterator[tuple[list[int], np.ndarray]]:
    """(rows, (B, 112, 112, 3) crops) batches in row order, for the models."""
    it = faces.crops(tl, video)
    rows: list[int] = []
    crops: list[np.ndarray] = []
    for i, crop in it:
        rows.append(i)
        crops.append(crop)
        if len(rows) >= size:
            yield rows, np.stack(crops)
            rows, crops = [], []
    if rows:
        yield rows, np.stack(crops)


def _visual_features(extractors: list[Extractor], faces: FaceSource, tl: Timeline, video: Path,
                     progress: Progress) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    out = {e.name: np.zeros((tl.n, e.dim), np.float32) for e in extractors}
    present = np.zeros(tl.n, bool)
    ahead = Ahead(lambda: crop_batches(faces, tl, video), CROP_QUEUE, name="featurizer-read")
    try:
        for rows, batch in ahead:  # the next batch is read while the models run on this one
            for e in extractors:
                bs = max(1, e.batch_size)
                for b in range(0, len(batch), bs):
                    out[e.name][rows[b : b + bs]] = e.extract_faces(batch[b : b + bs])
            present[rows] = True
            progress.frames(len(rows))
    finally:
        ahead.close()
    if not present.any():
        warnings.warn(f"{tl.track}: no face found in any frame; visual rows are zeros, not present",
                      stacklevel=2)
    result = {}
    for name, vals in out.items():
        vals = fill_nearest(vals, present, tl.timestamps)
        result[name] = _mask_past_video(tl, vals, present.copy())
    return result


def compute_source(
    plan: SourcePlan,
    extractors: list[Extractor],
    faces: FaceSource | None = None,
    info: VideoInfo | None = None,
    todo: dict[str, list[str]] | None = None,
    progress: Progress | None = None,
    prefetched: Prefetched | None = None,
) -> Iterator[TrackFeatures]:
    """Features of every (track, model) of one source video (``todo``: track -> models to do).

    ``prefetched``: the video already probed and its audio decoded (``prefetch_source``).
    """
    progress = progress or NoProgress()
    if prefetched is not None and prefetched.error is not None:
        raise prefetched.error
    info = info or (prefetched.info if prefetched else None) or probe_video(plan.video)
    timelines = {t.track: track_timeline(t, info) for t in plan.tracks}
    todo = todo or {t: [e.name for e in extractors] for t in timelines}
    audio_ex = [e for e in extractors if e.modality == "audio" and any(e.name in m for m in todo.values())]
    visual_ex = [e for e in extractors if e.modality == "visual"]
    if audio_ex:
        audio: Audio | None
        try:
            if prefetched is not None and prefetched.audio_loaded:
                if prefetched.audio_error is not None:
                    raise prefetched.audio_error
                audio = prefetched.audio
            else:
                audio = load_audio(plan.video)
        except NoAudioError as e:
            progress.warn(f"{e}; audio features marked not present")
            audio = None
        cache: dict = {}
        for ex in audio_ex:
            tls = [timelines[t] for t, ms in todo.items() if ex.name in ms]
            for tl, vals, present in _audio_features(ex, audio, tls, cache):
                yield TrackFeatures(tl.track, ex.name, vals, present, ex.provenance())
    for track, models in todo.items():
        wanted = [e for e in visual_ex if e.name in models]
        if not wanted:
            continue
        tl = timelines[track]
        src = faces or face_source(None)
        for name, (vals, present) in _visual_features(wanted, src, tl, plan.video, progress).items():
            ex = next(e for e in wanted if e.name == name)
            yield TrackFeatures(track, name, vals, present, ex.provenance())


def _todo(plan: SourcePlan, extractors: list[Extractor], store: FeatureStore,
          overwrite: bool) -> dict[str, list[str]]:
    names = [e.name for e in extractors]
    todo = {t.track: [m for m in names if overwrite or not store.is_complete(t.track, m)]
            for t in plan.tracks}
    return {t: ms for t, ms in todo.items() if ms}


def extract_source(plan: SourcePlan, extractors: list[Extractor], store: FeatureStore,
                   faces: FaceSource | None = None, dtype: str = "float16", overwrite: bool = False,
                   progress: Progress | None = None,
                   prefetched: Future | Prefetched | None = None) -> list[TrackResult]:
    """Extract one source video into the store. Never raises for bad input: failures are results.

    ``prefetched``: ``prefetch_source`` of this plan (or a future of it) run ahead of time.
    """
    progress = progress or NoProgress()
    t0 = time.perf_counter()
    todo = _todo(plan, extractors, store, overwrite)
    video = str(plan.video)
    results = {t.track: TrackResult(t.track, video, "skipped" if t.track not in todo else "done")
               for t in plan.tracks}
    if not todo:
        return list(results.values())
    try:
        pre = prefetched.result() if isinstance(prefetched, Future) else prefetched
        if pre is not None and pre.error is not None:
            raise pre.error
        info = pre.info if pre is not None and pre.info is not None else probe_video(plan.video)
        progress.video(plan.video.name, sum(len(track_timeline(t, info).timestamps) for t in plan.tracks if t.track in todo))
        for t in plan.tracks:
            if t.track in todo:
                tl = track_timeline(t, info)
                store.write_timeline(t.track, tl.timestamps, tl.frame_present, {
                    "source_video": plan.video.name, "n_video_frames": info.n_frames,
                    "fps": round(info.fps, 4), "label_file": str(t.label_file) if t.label_file else None,
                }, overwrite=overwrite)
                results[t.track].frames = tl.n
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for f in compute_source(plan, extractors, faces, info, todo, progress, pre):
                try:
                    store.write_feature(f.track, f.model, f.values, f.present, f.provenance, dtype)
                    results[f.track].models.append(f.model)
                except FeaturizerError as e:
                    results[f.track].status, results[f.track].error = "failed", str(e)
            for w in caught:
                progress.warn(str(w.message))
    except FeaturizerError as e:
        for t in todo:
            results[t].status, results[t].error = "failed", str(e)
    except Exception as e:  # noqa: BLE001 - one bad video must not stop the run
        for t in todo:
            results[t].status, results[t].error = "failed", f"{video}: {e.__class__.__name__}: {e}"
    for t, ms in todo.items():
        r = results[t]
        if r.status == "done" and set(r.models) != set(ms):
            r.status, r.error = "failed", r.error or f"{video}: missing {sorted(set(ms) - set(r.models))}"
        r.seconds = time.perf_counter() - t0
    progress.video_done()
    return list(results.values())


@contextlib.contextmanager
def _leave_a_core(extractors: list[Extractor]) -> Iterator[None]:
    """Torch intra-op threads = CPUs - 1 while the prefetch thread decodes beside the models:
    oversubscribed cores made torch's spinning threads 2-4x slower on 2 cores (bench/extract_handcrafted.py).
    Only for runs of weight-free extractors: a pretrained model's compute dwarfs the next video's
    decode, and one torch thread instead of two made densenet 2.5x and ires100 1.8x slower on 2
    cores (bench/extract_deep.py). ``FEATURIZER_TORCH_THREADS`` overrides either way."""
    import torch

    before = torch.get_num_threads()
    env = int(os.environ.get("FEATURIZER_TORCH_THREADS") or 0)
    light = not any(get_spec(e.name).needs_weights for e in extractors)
    want = env or (max(1, (os.cpu_count() or 2) - 1) if light else before)
    torch.set_num_threads(min(before, want) if not env else want)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def extract(inputs: list[str | Path], models: list[str] | str, out: str, labels: str | Path | None = None,
            faces_dir: str | Path | None = None, dtype: str = "float16", overwrite: bool = False,
            weights: dict[str, str] | None = None, device: str | None = None,
            batch_size: int | None = None, progress: Progress | None = None,
            executor: str = "local", ray_options: Any = None) -> RunReport:
    """``featurizer extract`` as a function (``executor="ray"``: see featurizer.executors)."""
    progress = progress or NoProgress()
    t0 = time.perf_counter()
    names = parse_model_list(models)
    videos = find_videos(list(inputs))
    report = RunReport()
    for v in videos:
        if not v.exists():
            report.problems[str(v)] = "file not found"
    plans, problems = plan_sources([v for v in videos if v.exists()], labels)
    report.problems.update(problems)
    if not plans and not report.problems:
        raise MediaError(", ".join(map(str, inputs)) or "(no input)", "no video files found",
                         f"looked for {', '.join(sorted({'.mp4', '.avi', '.mkv', '.mov', '.webm'}))}")
    if executor == "ray":
        from .executors import JobSpec, run_ray

        FeatureStore(out)  # create it (and its format marker) once, before the workers
        job = JobSpec(names, str(out), str(faces_dir) if faces_dir else None, dtype, overwrite,
                      dict(weights or {}), device, batch_size)
        report.results = run_ray(plans, job, ray_options, progress)
        report.seconds = time.perf_counter() - t0
        return report
    if executor != "local":
        raise FeaturizerError(f"--executor {executor}", "unknown executor", "choose local or ray")
    extractors = load_extractors(names, weights, device, batch_size)
    store = FeatureStore(out)
    faces = face_source(faces_dir)
    progress.start(len(plans))
    audio_ex = [e for e in extractors if e.modality == "audio"]

    def ahead(plan: SourcePlan) -> Prefetched:
        need = any(e.name in ms for ms in _todo(plan, audio_ex, store, overwrite).values() for e in audio_ex)
        return prefetch_source(plan, need)

    # the next video is probed and its audio decoded while the models run on this one
    with ThreadPoolExecutor(1, thread_name_prefix="featurizer-prefetch") as pool, _leave_a_core(extractors):
        nxt = pool.submit(ahead, plans[0]) if plans else None
        for k, plan in enumerate(plans):
            cur, nxt = nxt, (pool.submit(ahead, plans[k + 1]) if k + 1 < len(plans) else None)
            report.results.extend(extract_source(plan, extractors, store, faces, dtype, overwrite,
                                                 progress, cur))
    report.seconds = time.perf_counter() - t0
    return report
