"""Where ``extract_source`` runs: in this process (default), or on a Ray cluster.

Ray: one task per (source video, extractor group), groups being the audio and the visual models,
so a GPU can serve the visual ones while CPUs do audio. Each worker is an actor that loads its
models once. Workers write straight to the shared store with the same atomic rules as local runs,
so a lost worker or a killed driver loses nothing that was complete; a lost worker is restarted and
its task retried, and the retry skips what is already complete.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import FeaturizerError
from .pipeline import TrackResult, extract_source, load_extractors
from .progress import NoProgress, Progress
from .tracks import SourcePlan

EXECUTORS = ("local", "ray")


@dataclass
class RayOptions:
    address: str | None = None  # None: start a local cluster; "auto" or "ray://host:10001"
    gpus_per_task: float = 0.0
    cpus_per_task: float = 1.0
    workers_per_group: int | None = None  # default: the cluster's CPUs / cpus_per_task
    max_retries: int = 2
    init_kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class JobSpec:
    """Everything a worker needs to rebuild the extraction setup (picklable, small)."""

    models: list[str]
    store_url: str
    faces_dir: str | None
    dtype: str
    overwrite: bool
    weights: dict[str, str]
    device: str | None
    batch_size: int | None


def _worker_class():
    import ray

    @ray.remote
    class ExtractWorker:
        def __init__(self, job: JobSpec):
            from .core.store import FeatureStore
            from .faces import face_source

            self.job = job
            self.extractors = load_extractors(job.models, job.weights, job.device, job.batch_size)
            self.store = FeatureStore(job.store_url)
            self.faces = face_source(job.faces_dir)

        def pid(self) -> int:
            import os

            return os.getpid()

        def run(self, plan: SourcePlan):
            return extract_source(plan, self.extractors, self.store, self.faces, self.job.dtype,
                                  self.job.overwrite)

    return ExtractWorker


def model_groups(models: list[str]) -> list[list[str]]:
    from .registry import get_spec

    audio = [m for m in models if get_spec(m).modality == "audio"]
    visual = [m for m in models if get_spec(m).modality == "visual"]
    return [g for g in (audio, visual) if g]


def merge_results(parts: list[list]) -> list:
    """Per-group results of one video -> one result per track."""
    merged: dict[str, Any] = {}
    for results in parts:
        for r in results:
            m = merged.get(r.track)
            if m is None:
                merged[r.track] = r
                continue
            m.models = sorted(set(m.models) | set(r.models))
            m.frames = max(m.frames, r.frames)
            m.seconds = max(m.seconds, r.seconds)
            if r.status == "failed" or m.status == "failed":
                m.error = "; ".join(e for e in (m.error, r.error) if e)
                m.status = "failed"
            elif r.status == "done":
                m.status = "done"
    return list(merged.values())


def run_ray(plans: list[SourcePlan], job: JobSpec, opts: RayOptions | None = None,
            progress: Progress | None = None,
            on_workers: Callable[[list], None] | None = None) -> list:
    """Extract ``plans`` on Ray; returns TrackResults as ``extract_source`` would."""
    try:
        import ray
    except ImportError:
        raise FeaturizerError("--executor ray", "Ray is not installed",
                              "pip install 'featurizer[ray]'") from None
    opts = opts or RayOptions()
    progress = progress or NoProgress()
    from .core.cluster import start_ray

    started = start_ray(opts.address, **opts.init_kwargs)
    try:
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1) // max(opts.cpus_per_task, 1e-3)))
        n_workers = opts.workers_per_group or cpus
        Worker = _worker_class()
        groups = model_groups(job.models)
        per_group = max(1, n_workers // len(groups))
        idle: dict[int, list] = {}
        for gi, g in enumerate(groups):
            spec = JobSpec(**{**job.__dict__, "models": g})
            idle[gi] = [Worker.options(num_cpus=opts.cpus_per_task, num_gpus=opts.gpus_per_task,
                                       max_restarts=opts.max_retries, max_task_retries=opts.max_retries
                                       ).remote(spec) for _ in range(per_group)]
        if on_workers:
            on_workers([w for ws in idle.values() for w in ws])
        progress.start(len(plans))
        queue = [(p, gi) for p in plans for gi in range(len(groups))]
        parts: dict[str, list] = {str(p.video): [] for p in plans}
        inflight: dict[Any, tuple[SourcePlan, int, Any]] = {}
        results: list = []
        while queue or inflight:
            for item in list(queue):
                plan, gi = item
                if idle[gi]:
                    w = idle[gi].pop()
                    inflight[w.run.remote(plan)] = (plan, gi, w)
                    queue.remove(item)
            ready, _ = ray.wait(list(inflight), num_returns=1)
            for ref in ready:
                plan, gi, w = inflight.pop(ref)
                idle[gi].append(w)
                try:
                    res = ray.get(ref)
                except ray.exceptions.RayError as e:  # worker lost beyond its retries
                    res = [TrackResult(t.track, str(plan.video), "failed",
                                       error=f"{plan.video}: worker lost ({e.__class__.__name__})")
                           for t in plan.tracks]
                video = str(plan.video)
                parts[video].append(res)
                if len(parts[video]) == len(groups):
                    done = merge_results(parts.pop(video))
                    results += done
                    progress.video(Path(video).name, sum(r.frames for r in done))
                    progress.video_done()
        return results
    finally:
        if started:
            ray.shutdown()
