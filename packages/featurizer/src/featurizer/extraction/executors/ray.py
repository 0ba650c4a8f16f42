"""Extraction on a Ray cluster: ``run_job(job, RayExecutor(RayOptions(...)))``.

One task per (source file, extractor group), the groups being the audio and the visual models,
so a GPU can serve the visual ones while CPUs do audio. Each worker is an actor that loads its
models once. Workers write straight to the shared store with the same atomic rules as local
runs, so a lost worker or a killed driver loses nothing that was complete; a lost worker is
restarted and its task retried, and the retry skips what is already complete. Warnings raised
on the workers come back with their results and reach the driver's progress.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ...errors import FeaturizerError
from ...media.inputs import SourcePlan
from ...models.registry import get_spec
from ...progress import Collected, Progress
from ..job import ExtractJob
from ..results import TrackResult, merge_results


@dataclass
class RayOptions:
    address: str | None = None  # None: start a local cluster; "auto" or "ray://host:10001"
    gpus_per_task: float = 0.0
    cpus_per_task: float = 1.0
    workers_per_group: int | None = None  # default: the cluster's CPUs / cpus_per_task
    max_retries: int = 2
    init_kwargs: dict[str, Any] = field(default_factory=dict)


def _worker_class() -> Any:
    import ray

    @ray.remote
    class ExtractWorker:
        """Loads one group's models once, then extracts source after source into the store."""

        def __init__(self, job: ExtractJob):
            from ...core.store import FeatureStore
            from ...faces import face_source
            from ...models.runtime import FreshModels

            self.job = job
            self.extractors = FreshModels().extractors(list(job.models), job.runtime)
            self.store = FeatureStore(job.out)
            self.faces = face_source(job.faces, job.detector, job.detect_every)

        def pid(self) -> int:
            import os

            return os.getpid()

        def run(self, plan: SourcePlan) -> tuple[list[TrackResult], list[str]]:
            from ...media.source import prefetch_source
            from ..write import extract_source

            got = Collected()
            audio = any(e.modality == "audio" for e in self.extractors)
            pre = prefetch_source(plan, audio, self.job.audio_fps)
            res = extract_source(plan, self.extractors, self.store, self.faces, self.job.dtype,
                                 self.job.overwrite, got, pre)
            return res, got.warnings

    return ExtractWorker


def model_groups(models: list[str] | tuple[str, ...]) -> list[list[str]]:
    audio = [m for m in models if get_spec(m).modality == "audio"]
    visual = [m for m in models if get_spec(m).modality == "visual"]
    return [g for g in (audio, visual) if g]


class RayExecutor:
    """Runs a job's sources as Ray tasks (``options``: cluster address, GPUs and workers).

    ``on_workers`` is called with the actors once they exist (tests use it to kill one).
    """

    def __init__(self, options: RayOptions | None = None,
                 on_workers: Callable[[list], None] | None = None):
        self.options = options or RayOptions()
        self.on_workers = on_workers

    def run(self, job: ExtractJob, plans: list[SourcePlan], progress: Progress) -> list[TrackResult]:
        try:
            import ray
        except ImportError:
            raise FeaturizerError("--executor ray", "Ray is not installed",
                                  "pip install 'featurizer[ray]'") from None
        from ...core.cluster import start_ray

        opts = self.options
        started = start_ray(opts.address, **opts.init_kwargs)
        try:
            return self._run(ray, job, plans, progress)
        finally:
            if started:
                ray.shutdown()

    def _run(self, ray: Any, job: ExtractJob, plans: list[SourcePlan], progress: Progress) -> list[TrackResult]:
        opts = self.options
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1) // max(opts.cpus_per_task, 1e-3)))
        groups = model_groups(job.models)
        per_group = max(1, (opts.workers_per_group or cpus) // len(groups))
        Worker = _worker_class()
        idle = {gi: [Worker.options(num_cpus=opts.cpus_per_task, num_gpus=opts.gpus_per_task,
                                    max_restarts=opts.max_retries, max_task_retries=opts.max_retries
                                    ).remote(replace(job, models=tuple(g))) for _ in range(per_group)]
                for gi, g in enumerate(groups)}
        if self.on_workers:
            self.on_workers([w for ws in idle.values() for w in ws])
        queue = [(p, gi) for p in plans for gi in range(len(groups))]
        parts: dict[str, list] = {str(p.video): [] for p in plans}
        inflight: dict[Any, tuple[SourcePlan, int, Any]] = {}
        results: list[TrackResult] = []
        while (queue and not progress.cancelled()) or inflight:
            for item in list(queue):
                plan, gi = item
                if idle[gi] and not progress.cancelled():
                    w = idle[gi].pop()
                    inflight[w.run.remote(plan)] = (plan, gi, w)
                    queue.remove(item)
            ready, _ = ray.wait(list(inflight), num_returns=1)
            for ref in ready:
                plan, gi, w = inflight.pop(ref)
                idle[gi].append(w)
                try:
                    res, warned = ray.get(ref)
                except ray.exceptions.RayError as e:  # worker lost beyond its retries
                    res, warned = [TrackResult(t.track, str(plan.video), "failed",
                                               error=f"{plan.video}: worker lost ({e.__class__.__name__})")
                                   for t in plan.tracks], []
                for message in warned:
                    progress.warn(message)
                video = str(plan.video)
                parts[video].append(res)
                if len(parts[video]) == len(groups):
                    done = merge_results(parts.pop(video))
                    results += done
                    progress.video(Path(video).name, sum(r.frames for r in done))
                    progress.video_done()
        return results
