"""Where a job's sources are extracted: an :class:`Executor` object handed to ``run_job``.

:class:`LocalExecutor` runs in this process; ``featurizer.ray_executor.RayExecutor`` on a Ray
cluster. Both call ``extract_source`` per source with the same atomic store writes, so their
stores are equal.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Protocol

from .compute import Prefetched, prefetch_source
from .core.ahead import Ahead
from .core.device import resolve_device
from .errors import FeaturizerError
from .faces import FaceSource, face_source
from .job import ExtractJob
from .progress import Progress, warnings_to
from .registry import Extractor, get_spec
from .results import TrackResult
from .runtime import FreshModels, ModelSource
from .tracks import SourcePlan
from .write_source import extract_source, todo_of


class Executor(Protocol):
    def run(self, job: ExtractJob, plans: list[SourcePlan], progress: Progress) -> list[TrackResult]:
        """Extract ``plans`` into ``job.out``; one result per track, failures included."""


class LocalExecutor:
    """In this process: the models load once (from ``models``: built afresh by default, or the
    HTTP service's cache), and the next source is probed and its audio decoded on a background
    thread (:class:`~featurizer.core.ahead.Ahead`) while the models run on the current one.

    ``shared``: other jobs run in this process at the same time (the service's requests), so the
    process-wide torch thread count and warning filters are left alone. ``faces``: a face source
    to read crops from instead of the job's (a caller that scanned the videos already, e.g. to
    name their people, hands over its detections).
    """

    def __init__(self, models: ModelSource | None = None, *, shared: bool = False,
                 faces: FaceSource | None = None):
        self.models = models or FreshModels()
        self.shared = shared
        self.faces = faces

    def run(self, job: ExtractJob, plans: list[SourcePlan], progress: Progress) -> list[TrackResult]:
        from .core.store import FeatureStore  # zarr: not for a run whose every input was refused

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

        results: list[TrackResult] = []
        threads = contextlib.nullcontext() if self.shared else leave_a_core(extractors)
        with Ahead(ahead, depth=1, name="featurizer-prefetch") as fetched, threads:
            for plan, pre in zip(plans, fetched, strict=True):
                results += extract_source(plan, extractors, store, faces, job.dtype, job.overwrite,
                                          progress, pre, capture_warnings=not self.shared)
        return results


EXECUTORS = ("local", "ray")


def make_executor(kind: str = "local", *, address: str | None = None, gpus_per_task: float = 0.0,
                  workers: int | None = None) -> Executor:
    """The executor ``featurizer extract --executor KIND`` runs on: this process (``local``), or a
    Ray cluster (``ray``: ``address``, GPUs per task, workers per extractor group; featurizer[ray])."""
    if kind not in EXECUTORS:
        raise FeaturizerError(f"--executor {kind}", "unknown executor", "choose local or ray")
    if kind == "ray":
        from . import extras

        extras.require("ray", "featurizer extract --executor ray")
        from .ray_executor import RayExecutor, RayOptions

        return RayExecutor(RayOptions(address=address, gpus_per_task=gpus_per_task, workers_per_group=workers))
    return LocalExecutor()


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
