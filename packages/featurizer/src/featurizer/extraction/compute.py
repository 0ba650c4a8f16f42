"""The features of one source file, in memory: one decode, every model, rows = label frames.

``compute_source`` yields a :class:`TrackFeatures` per (track, model). Audio is decoded once per
source and shared by its tracks (``X_left``/``X_right``); face crops are read (or detected) on a
background thread at most ``CROP_QUEUE`` windows of ``CROP_WINDOW`` crops (or a model's batch, if
larger) ahead of the visual models (:class:`~featurizer.core.ahead.Ahead`, bounded memory); the
tracks of several short videos can share windows (:func:`visual_features`, ``extract_group``). A file without audio gets audio
rows of zeros marked not present, one without video (audio-only) visual rows likewise.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.ahead import Ahead
from ..errors import NoAudioError
from ..faces import FaceSource, face_source
from ..media.decode import Audio, load_audio
from ..media.inputs import SourcePlan
from ..media.source import Prefetched, probed, track_timeline
from ..media.timeline import Timeline, align_rows, fill_nearest
from ..models.registry import Extractor
from ..progress import NoProgress, Progress
from .audio_rows import hop_rows

CROP_WINDOW = 256  # crops per batch handed to the visual models
CROP_QUEUE = 2  # batches read ahead of the models


@dataclass
class TrackFeatures:
    track: str
    model: str
    values: np.ndarray  # (n, dim) float32
    present: np.ndarray  # (n,) bool
    provenance: dict


def _mask_past_video(tl: Timeline, values: np.ndarray, present: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows past the video's end take its last frame's values and are not present."""
    if tl.frame_present.all():
        return values, present
    last = int(np.flatnonzero(tl.frame_present)[-1])
    values[~tl.frame_present] = values[last]
    return values, present & tl.frame_present


def _absent(ex: Extractor, tl: Timeline) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((tl.n, ex.dim), np.float32), np.zeros(tl.n, bool)


def _audio_features(ex: Extractor, audio: Audio | None, timelines: list[Timeline],
                    cache: dict) -> Iterator[tuple[Timeline, np.ndarray, np.ndarray]]:
    for tl in timelines:
        if audio is None:
            yield tl, *_absent(ex, tl)
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


def crop_windows(faces: FaceSource, items: list[tuple[Timeline, Path]],
                 size: int = CROP_WINDOW) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """((k, 2) item and row of each crop, (k, 112, 112, 3) crops) windows of ``size`` crops in
    order; a window may span items (the tracks of several short videos, batched together)."""
    keys: list[tuple[int, int]] = []
    crops: list[np.ndarray] = []
    for k, (tl, video) in enumerate(items):
        for i, crop in faces.crops(tl, video):
            keys.append((k, i))
            crops.append(crop)
            if len(keys) >= size:
                yield np.array(keys), np.stack(crops)
                keys, crops = [], []
    if keys:
        yield np.array(keys), np.stack(crops)


def crop_window(extractors: list[Extractor]) -> int:
    """Crops handed to the models at once: at least each one's batch (a GPU's batches stay full)."""
    return max([CROP_WINDOW] + [e.batch_size for e in extractors])


def visual_features(extractors: list[Extractor], faces: FaceSource, items: list[tuple[Timeline, Path]],
                    progress: Progress) -> list[dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Each item's (track timeline, video) rows of every model: crops read (or detected) ahead on a
    thread, each window run through each model whole (the extractor batches it)."""
    out = [{e.name: np.zeros((tl.n, e.dim), np.float32) for e in extractors} for tl, _ in items]
    present = [np.zeros(tl.n, bool) for tl, _ in items]
    window = crop_window(extractors)
    with Ahead(lambda: crop_windows(faces, items, window), CROP_QUEUE, name="featurizer-read") as ahead:
        for keys, batch in ahead:  # the next window is read while the models run on this one
            parts = [(k, keys[:, 0] == k) for k in np.unique(keys[:, 0])]
            for e in extractors:
                vals = e.extract_faces(batch)
                for k, sel in parts:
                    out[k][e.name][keys[sel, 1]] = vals[sel]
            for k, sel in parts:
                present[k][keys[sel, 1]] = True
            progress.frames(len(keys))
    result = []
    for (tl, _), rows, seen in zip(items, out, present, strict=True):
        if not seen.any():
            progress.warn(f"{tl.track}: no face found in any frame; visual rows are zeros, not present")
        result.append({name: _mask_past_video(tl, fill_nearest(vals, seen, tl.timestamps), seen.copy())
                       for name, vals in rows.items()})
    return result


def _source_audio(plan: SourcePlan, prefetched: Prefetched | None, progress: Progress) -> Audio | None:
    """The source's decoded audio, or None (with a warning) when it has none."""
    try:
        if prefetched is not None and prefetched.audio_loaded:
            if prefetched.audio_error is not None:
                raise prefetched.audio_error
            return prefetched.audio
        return load_audio(plan.video)
    except NoAudioError as e:
        progress.warn(f"{e}; audio features marked not present")
        return None


def compute_source(
    plan: SourcePlan,
    extractors: list[Extractor],
    faces: FaceSource | None = None,
    todo: dict[str, list[str]] | None = None,
    progress: Progress | None = None,
    prefetched: Prefetched | None = None,
    deferred: list[tuple[str, Timeline, list[Extractor]]] | None = None,
) -> Iterator[TrackFeatures]:
    """Features of every (track, model) of one source file (``todo``: track -> models to do).

    ``prefetched``: the file already probed and its audio decoded (``prefetch_source``).
    ``deferred``: the visual work is not done here but listed in it, (track, timeline, models),
    for the caller to batch with other sources' (:func:`visual_features`).
    """
    progress = progress or NoProgress()
    prefetched, info = probed(plan, prefetched)
    timelines = {t.track: track_timeline(t, info) for t in plan.tracks}
    todo = todo or {t: [e.name for e in extractors] for t in timelines}
    audio_ex = [e for e in extractors if e.modality == "audio" and any(e.name in m for m in todo.values())]
    visual_ex = [e for e in extractors if e.modality == "visual"]
    if audio_ex:
        audio = _source_audio(plan, prefetched, progress)
        cache: dict = {}
        for ex in audio_ex:
            tls = [timelines[t] for t, ms in todo.items() if ex.name in ms]
            for tl, vals, present in _audio_features(ex, audio, tls, cache):
                yield TrackFeatures(tl.track, ex.name, vals, present, ex.provenance())
    src = faces or face_source(None)  # one source: the tracks of a video share its detection pass
    for track, models in todo.items():
        wanted = [e for e in visual_ex if e.name in models]
        if not wanted:
            continue
        tl = timelines[track]
        if not info.has_video:
            progress.warn(f"{plan.video}: no video stream; visual features "
                          f"({', '.join(e.name for e in wanted)}) marked not present")
            for e in wanted:
                yield TrackFeatures(track, e.name, *_absent(e, tl), e.provenance())
            continue
        if deferred is not None:
            deferred.append((track, tl, wanted))
            continue
        (rows,) = visual_features(wanted, src, [(tl, plan.video)], progress)
        for name, (vals, present) in rows.items():
            ex = next(e for e in wanted if e.name == name)
            yield TrackFeatures(track, name, vals, present, {**ex.provenance(), "faces": src.describe()})
