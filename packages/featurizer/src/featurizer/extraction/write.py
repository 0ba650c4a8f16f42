"""One source file into the store: skip what is complete, hold the lock of each array it writes
(another writer of the store skips or waits for it), write each array atomically, and turn any
failure into a result (one bad video never stops a run)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ..core.locks import claim
from ..errors import FeaturizerError
from ..faces import FaceSource
from ..media.inputs import SourcePlan
from ..media.source import Prefetched, probed, track_timeline
from ..models.registry import Extractor
from ..progress import NoProgress, Progress, warnings_to
from .compute import compute_source
from .results import TrackResult

if TYPE_CHECKING:
    from ..core.store import FeatureStore


def todo_of(plan: SourcePlan, names: list[str], store: FeatureStore, overwrite: bool) -> dict[str, list[str]]:
    """track -> the models still to extract (all of them with ``overwrite``)."""
    todo = {t.track: [m for m in names if overwrite or not store.is_complete(t.track, m)]
            for t in plan.tracks}
    return {t: ms for t, ms in todo.items() if ms}


def _fail(r: TrackResult, e: BaseException, video: str) -> None:
    r.status = "failed"
    if isinstance(e, FeaturizerError):
        r.error, r.cause = str(e), e
    else:
        r.error = " ".join(f"{video}: {e.__class__.__name__}: {e}".split())  # one line


def extract_source(plan: SourcePlan, extractors: list[Extractor], store: FeatureStore,
                   faces: FaceSource | None = None, dtype: str = "float16", overwrite: bool = False,
                   progress: Progress | None = None, prefetched: Prefetched | None = None,
                   capture_warnings: bool = True, *, todo: dict[str, list[str]] | None = None,
                   wait: bool = True) -> list[TrackResult]:
    """Extract one source into the store. Never raises for bad input: failures are results.

    ``prefetched``: ``prefetch_source`` of this plan, run ahead of time. ``capture_warnings``
    routes Python warnings raised meanwhile (unreadable crops ...) to ``progress.warn``; it
    changes process-wide state, so runs that share their process with others leave it off.
    ``todo``: track -> the models to do (default: those not complete, or all with ``overwrite``).

    Each array's lock is held from before it is computed until it is written. An array another
    writer of the store completed meanwhile is skipped (``TrackResult.elsewhere``); one it is
    writing now is waited for, or with ``wait=False`` left in ``TrackResult.deferred`` (for a
    second call with ``todo`` of those, once this writer's other sources are done).
    """
    progress = progress or NoProgress()
    t0 = time.perf_counter()
    if todo is None:
        todo = todo_of(plan, [e.name for e in extractors], store, overwrite)
    video = str(plan.video)
    results = {t.track: TrackResult(t.track, video, "skipped" if t.track not in todo else "done")
               for t in plan.tracks}
    with claim(store.locks, todo, store.is_complete, wait, recheck=not overwrite) as got:
        for t, ms in got.theirs.items():
            results[t].elsewhere = ms
        for t, ms in got.busy.items():
            results[t].deferred = ms
        try:
            if got.mine:
                _extract(plan, extractors, store, faces, dtype, overwrite, progress, prefetched, got.mine,
                         results, capture_warnings)
        except Exception as e:  # noqa: BLE001 - one bad video must not stop the run
            for t in got.mine:
                _fail(results[t], e, video)
    for t in todo:
        r = results[t]
        ms = got.mine.get(t, [])
        if not ms:
            r.status = "skipped"  # another writer has (or had) all of it
        elif r.status == "done" and set(r.models) != set(ms):
            r.status, r.error = "failed", f"{video}: missing {sorted(set(ms) - set(r.models))}"
        r.seconds = time.perf_counter() - t0
    progress.video_done()
    return list(results.values())


def _extract(plan: SourcePlan, extractors: list[Extractor], store: FeatureStore,
             faces: FaceSource | None, dtype: str, overwrite: bool, progress: Progress,
             prefetched: Prefetched | None, todo: dict[str, list[str]],
             results: dict[str, TrackResult], capture_warnings: bool) -> None:
    prefetched, info = probed(plan, prefetched)
    timelines = {t.track: track_timeline(t, info) for t in plan.tracks if t.track in todo}
    progress.video(plan.video.name, sum(tl.n for tl in timelines.values()))
    for t in plan.tracks:
        if t.track in todo:
            tl = timelines[t.track]
            store.write_timeline(t.track, tl.timestamps, tl.frame_present, {
                "source_video": plan.video.name, "n_video_frames": info.n_frames if info.has_video else 0,
                "fps": round(info.fps, 4), "label_file": str(t.label_file) if t.label_file else None,
            }, overwrite=overwrite)
            results[t.track].frames = tl.n
    with warnings_to(progress, capture_warnings):
        last = time.perf_counter()
        for f in compute_source(plan, extractors, faces, todo, progress, prefetched):
            progress.feature(f.track, f.model, time.perf_counter() - last)
            if progress.cancelled():
                raise FeaturizerError(str(plan.video), "cancelled")
            try:
                store.write_feature(f.track, f.model, f.values, f.present, f.provenance, dtype)
                results[f.track].models.append(f.model)
            except FeaturizerError as e:
                _fail(results[f.track], e, str(plan.video))
            last = time.perf_counter()
