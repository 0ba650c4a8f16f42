"""Source files into the store: skip what is complete, hold the lock of each array it writes
(another writer of the store skips or waits for it), write each array atomically, and turn any
failure into a result (one bad video never stops a run). One source at a time
(:func:`extract_source`), or several short ones whose visual models share batches
(:func:`extract_group`)."""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING

from ..core.locks import claim
from ..errors import FeaturizerError
from ..faces import FaceSource, face_source
from ..media.inputs import SourcePlan
from ..media.source import Prefetched, probed, track_timeline
from ..models.registry import Extractor
from ..progress import NoProgress, Progress, warnings_to
from .compute import compute_source, visual_features
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
    return _finish(todo, got.mine, results, video, t0, progress)


def _finish(todo: dict[str, list[str]], mine: dict[str, list[str]], results: dict[str, TrackResult],
            video: str, t0: float, progress: Progress) -> list[TrackResult]:
    for t in todo:
        r = results[t]
        ms = mine.get(t, [])
        if not ms:
            r.status = "skipped"  # another writer has (or had) all of it
        elif r.status == "done" and set(r.models) != set(ms):
            r.status, r.error = "failed", f"{video}: missing {sorted(set(ms) - set(r.models))}"
        r.seconds = time.perf_counter() - t0
    progress.video_done()
    return list(results.values())


def extract_group(items: list[tuple[SourcePlan, Prefetched | None]], extractors: list[Extractor],
                  store: FeatureStore, faces: FaceSource | None = None, dtype: str = "float16",
                  overwrite: bool = False, progress: Progress | None = None,
                  capture_warnings: bool = True) -> list[list[TrackResult]]:
    """Several short sources at once (each one's results, in order): each one's timelines and
    audio features as :func:`extract_source` writes them, then the visual models over all their
    tracks' crops in shared windows, so that a GPU's batches stay full. Arrays another writer holds
    are left to it (``deferred``, as ``wait=False``). If anything fails, the locks are let go and
    each source is done again alone (complete arrays are skipped): one bad video fails only itself."""
    progress = progress or NoProgress()
    try:
        return _group(items, extractors, store, faces or face_source(None), dtype, overwrite, progress,
                      capture_warnings)
    except Exception:  # noqa: BLE001 - redone one by one: the bad one fails alone, with its reason
        return [extract_source(plan, extractors, store, faces, dtype, overwrite, progress, pre, capture_warnings,
                               wait=False) for plan, pre in items]


def _group(items: list[tuple[SourcePlan, Prefetched | None]], extractors: list[Extractor],
           store: FeatureStore, src: FaceSource, dtype: str, overwrite: bool, progress: Progress,
           capture_warnings: bool) -> list[list[TrackResult]]:
    jobs = []
    with contextlib.ExitStack() as held:
        for plan, pre in items:
            t0 = time.perf_counter()
            todo = todo_of(plan, [e.name for e in extractors], store, overwrite)
            results = {t.track: TrackResult(t.track, str(plan.video), "skipped" if t.track not in todo else "done")
                       for t in plan.tracks}
            got = held.enter_context(claim(store.locks, todo, store.is_complete, False, recheck=not overwrite))
            for t, ms in got.theirs.items():
                results[t].elsewhere = ms
            for t, ms in got.busy.items():
                results[t].deferred = ms
            deferred: list = []
            if got.mine:
                _extract(plan, extractors, store, src, dtype, overwrite, progress, pre, got.mine, results,
                         capture_warnings, deferred)
            jobs.append((plan, todo, got.mine, results, deferred, t0))
        work = [(results, job) for _, _, _, results, deferred, _ in jobs for job in deferred]
        wanted = {e.name for _, (_, _, models) in work for e in models}
        models = [e for e in extractors if e.name in wanted]
        items_ = [(tl, plan.video) for plan, _, _, _, deferred, _ in jobs for _, tl, _ in deferred]
        with warnings_to(progress, capture_warnings):
            rows = visual_features(models, src, items_, progress)
        for (results, (track, _, want)), got_rows in zip(work, rows, strict=True):
            for e in want:
                store.write_feature(track, e.name, *got_rows[e.name], {**e.provenance(), "faces": src.describe()},
                                    dtype)
                results[track].models.append(e.name)
    return [_finish(todo, mine, results, str(plan.video), t0, progress) for plan, todo, mine, results, _, t0 in jobs]


def _extract(plan: SourcePlan, extractors: list[Extractor], store: FeatureStore,
             faces: FaceSource | None, dtype: str, overwrite: bool, progress: Progress,
             prefetched: Prefetched | None, todo: dict[str, list[str]],
             results: dict[str, TrackResult], capture_warnings: bool, deferred: list | None = None) -> None:
    """``deferred``: the visual work is listed in it, not done (:func:`extract_group` does it)."""
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
        for f in compute_source(plan, extractors, faces, todo, progress, prefetched, deferred):
            progress.feature(f.track, f.model, time.perf_counter() - last)
            if progress.cancelled():
                raise FeaturizerError(str(plan.video), "cancelled")
            try:
                store.write_feature(f.track, f.model, f.values, f.present, f.provenance, dtype)
                results[f.track].models.append(f.model)
            except FeaturizerError as e:
                _fail(results[f.track], e, str(plan.video))
            last = time.perf_counter()
