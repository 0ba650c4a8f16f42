"""Extraction in this process: models loaded once, the next source decoded ahead, short sources
batched together on a GPU. Several writers of one store (two ``featurizer extract`` runs) share
the work: each skips the arrays another holds, then waits for those (:mod:`featurizer.core.locks`)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from ...core.ahead import Ahead
from ...core.device import is_cuda, resolve_device
from ...faces import FaceSource, face_source
from ...media.inputs import SourcePlan
from ...media.source import Prefetched, prefetch_source, probed, track_timeline
from ...models.registry import Extractor, get_spec
from ...models.runtime import FreshModels, ModelSource
from ...progress import Progress, warnings_to
from ..compute import crop_window
from ..job import ExtractJob
from ..results import TrackResult, merge_results
from ..write import extract_group, extract_source, todo_of


class LocalExecutor:
    """In this process: the models load once (from ``models``: built afresh by default, or the
    HTTP service's cache), and the next source is probed and its audio decoded on a background
    thread (:class:`~featurizer.core.ahead.Ahead`) while the models run on the current one.

    ``shared``: other jobs run in this process at the same time (the service's requests), so the
    process-wide torch thread count and warning filters are left alone. ``faces``: a face source
    to read crops from instead of the job's (a caller that scanned the videos already, e.g. to
    name their people, hands over its detections). ``group_frames``: sources with fewer label
    frames than this are extracted together, their visual models sharing batches across videos
    (:func:`~featurizer.extraction.write.extract_group`), until the group holds that many; None:
    a model's crop window when a visual model runs on CUDA (where a batch of a few frames leaves
    the GPU idle), else off (0).

    Arrays another writer of the store is writing are left while it writes them; once every
    other source is done, each is waited for, and written here only if that writer failed.
    """

    def __init__(self, models: ModelSource | None = None, *, shared: bool = False,
                 faces: FaceSource | None = None, group_frames: int | None = None):
        self.models = models or FreshModels()
        self.shared = shared
        self.faces = faces
        self.group_frames = group_frames

    def run(self, job: ExtractJob, plans: list[SourcePlan], progress: Progress) -> list[TrackResult]:
        from ...core.store import FeatureStore  # zarr: not for a run whose every input was refused

        if job.runtime.device is not None:
            resolve_device(job.runtime.device)  # no CUDA here: one clear line before any load
        with warnings_to(progress, not self.shared):
            extractors = self.models.extractors(list(job.models), job.runtime)
        store = FeatureStore(job.out)
        faces = self.faces or face_source(job.faces, job.detector, job.detect_every)
        audio = [e.name for e in extractors if e.modality == "audio"]

        def ahead() -> Iterator[Prefetched]:
            for plan in plans:
                need = bool(audio) and bool(todo_of(plan, audio, store, job.overwrite))
                yield prefetch_source(plan, need, job.audio_fps)

        parts: list[list[TrackResult]] = []  # one per plan, in order
        limit = group_limit([e for e in extractors if e.modality == "visual"], self.group_frames)
        group: list[tuple[SourcePlan, Prefetched]] = []
        kw = {"dtype": job.dtype, "overwrite": job.overwrite, "progress": progress,
              "capture_warnings": not self.shared}

        def flush() -> None:
            if len(group) > 1:
                parts.extend(extract_group(group, extractors, store, faces, **kw))
            elif group:
                parts.append(extract_source(group[0][0], extractors, store, faces, prefetched=group[0][1],
                                            wait=False, **kw))
            group.clear()

        threads = contextlib.nullcontext() if self.shared else leave_a_core(extractors)
        with Ahead(ahead, depth=1, name="featurizer-prefetch") as fetched, threads:
            for plan, pre in zip(plans, fetched, strict=True):
                n = _visual_frames(plan, pre) if limit else 0
                if 0 < n < limit:
                    group.append((plan, pre))
                    if sum(_visual_frames(p, q) for p, q in group) >= limit:
                        flush()
                    continue
                flush()
                parts.append(extract_source(plan, extractors, store, faces, prefetched=pre, wait=False, **kw))
            flush()
            again = _Again(progress)
            for plan, part in zip(plans, parts, strict=True):
                left = {r.track: r.deferred for r in part if r.deferred}
                if left and not progress.cancelled():  # its writer has them, or failed: no overwrite
                    for track, models in left.items():
                        progress.note(f"{track}: {', '.join(models)} being written by another writer of the "
                                      "store; waiting for it")
                    second = extract_source(plan, extractors, store, faces, job.dtype, False, again,
                                            capture_warnings=not self.shared, todo=left, wait=True)
                    part[:] = merge_results([part, second])
        return [r for part in parts for r in part]


def group_limit(visual: list[Extractor], group_frames: int | None) -> int:
    """Label frames below which sources are grouped (0: never): ``group_frames``, or by default a
    crop window where a visual model runs on CUDA."""
    if not visual:
        return 0
    if group_frames is not None:
        return group_frames
    return crop_window(visual) if any(is_cuda(getattr(e, "device", None)) for e in visual) else 0


def _visual_frames(plan: SourcePlan, pre: Prefetched) -> int:
    """Label frames of the source's tracks (0 if it cannot be probed or has no video)."""
    try:
        _, info = probed(plan, pre)
    except Exception:  # noqa: BLE001 - extract_source reports it
        return 0
    return sum(track_timeline(t, info).n for t in plan.tracks) if info.has_video else 0


class _Again:
    """A run's progress for its second pass over a source (counted in the first)."""

    def __init__(self, progress: Progress):
        self.progress = progress

    def video_done(self) -> None:
        pass

    def __getattr__(self, name: str) -> object:
        return getattr(self.progress, name)


@contextlib.contextmanager
def leave_a_core(extractors: list[Extractor]) -> Iterator[None]:
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
