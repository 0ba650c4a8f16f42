"""From videos to stored features: one decode per source video, every model, atomic writes.

``compute_source`` yields the features of one source video's tracks in memory (the HTTP service
uses it as it is); ``extract`` writes them to a store, skipping complete arrays, so a killed run
resumes, and reports every failed input without stopping the others.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .audio_rows import hop_rows
from .errors import FeaturizerError, MediaError, NoAudioError
from .faces import FaceSource, face_source
from .media import Audio, VideoInfo, find_videos, load_audio, probe_video
from .progress import NoProgress, Progress
from .registry import Extractor, create_extractor, parse_model_list
from .store import FeatureStore
from .timeline import Timeline, align_rows, fill_nearest
from .tracks import SourcePlan, TrackPlan, plan_sources

CROP_WINDOW = 256  # crops read ahead of the model


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
    weights = weights or {}
    return [create_extractor(m, weights=weights.get(m), device=device, batch_size=batch_size)
            for m in parse_model_list(models)]


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
            vals = ex.extract_windows(audio.samples, audio.sample_rate, tl.timestamps - audio.start)
            half = ex.timing.window / 2
            present = (tl.timestamps - half >= audio.start - 1e-9) & (
                tl.timestamps + half <= audio.start + audio.duration + 1e-9)
            vals = np.asarray(vals, np.float32)
        else:
            if ex.name not in cache:  # once per source video, shared by its tracks
                cache[ex.name] = hop_rows(ex, audio)
            rows, centres = cache[ex.name]
            vals, present = align_rows(rows, centres, tl.timestamps)
        yield tl, *_mask_past_video(tl, vals, present)


def _visual_features(extractors: list[Extractor], faces: FaceSource, tl: Timeline, video: Path,
                     progress: Progress) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    out = {e.name: np.zeros((tl.n, e.dim), np.float32) for e in extractors}
    present = np.zeros(tl.n, bool)
    rows: list[int] = []
    crops: list[np.ndarray] = []

    def flush() -> None:
        if not rows:
            return
        batch = np.stack(crops)
        for e in extractors:
            bs = max(1, e.batch_size)
            for b in range(0, len(batch), bs):
                out[e.name][rows[b : b + bs]] = e.extract_faces(batch[b : b + bs])
        present[rows] = True
        progress.frames(len(rows))
        rows.clear()
        crops.clear()

    for i, crop in faces.crops(tl, video):
        rows.append(i)
        crops.append(crop)
        if len(rows) >= CROP_WINDOW:
            flush()
    flush()
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
) -> Iterator[TrackFeatures]:
    """Features of every (track, model) of one source video (``todo``: track -> models to do)."""
    progress = progress or NoProgress()
    info = info or probe_video(plan.video)
    timelines = {t.track: track_timeline(t, info) for t in plan.tracks}
    todo = todo or {t: [e.name for e in extractors] for t in timelines}
    audio_ex = [e for e in extractors if e.modality == "audio" and any(e.name in m for m in todo.values())]
    visual_ex = [e for e in extractors if e.modality == "visual"]
    if audio_ex:
        audio: Audio | None
        try:
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


def extract_source(plan: SourcePlan, extractors: list[Extractor], store: FeatureStore,
                   faces: FaceSource | None = None, dtype: str = "float16", overwrite: bool = False,
                   progress: Progress | None = None) -> list[TrackResult]:
    """Extract one source video into the store. Never raises for bad input: failures are results."""
    progress = progress or NoProgress()
    t0 = time.perf_counter()
    names = [e.name for e in extractors]
    todo = {t.track: [m for m in names if overwrite or not store.is_complete(t.track, m)]
            for t in plan.tracks}
    todo = {t: ms for t, ms in todo.items() if ms}
    video = str(plan.video)
    results = {t.track: TrackResult(t.track, video, "skipped" if t.track not in todo else "done")
               for t in plan.tracks}
    if not todo:
        return list(results.values())
    try:
        info = probe_video(plan.video)
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
            for f in compute_source(plan, extractors, faces, info, todo, progress):
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


def extract(inputs: list[str | Path], models: list[str] | str, out: str, labels: str | Path | None = None,
            faces_dir: str | Path | None = None, dtype: str = "float16", overwrite: bool = False,
            weights: dict[str, str] | None = None, device: str | None = None,
            batch_size: int | None = None, progress: Progress | None = None) -> RunReport:
    """``featurizer extract`` as a function."""
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
    extractors = load_extractors(names, weights, device, batch_size)
    store = FeatureStore(out)
    faces = face_source(faces_dir)
    progress.start(len(plans))
    for plan in plans:
        report.results.extend(extract_source(plan, extractors, store, faces, dtype, overwrite, progress))
    report.seconds = time.perf_counter() - t0
    return report
