"""The one extraction path: ``run_job(job, executor, progress) -> RunReport``.

``featurizer extract``, the HTTP service and Ray all hand an :class:`~featurizer.job.ExtractJob`
to :func:`run_job`, which

1. checks the job against the registry (models, typed options, dtype): nothing loads;
2. opens every input's header and maps the label rows to it: bad inputs are reported at once
   (``progress.problem``) and the run goes on with the rest; when no input is left, no model is
   ever loaded;
3. opens (or creates) the store, then has the executor extract each source: the executor loads
   the models, skips complete arrays (a killed run resumes) and turns failures into results.

:func:`extract` is the same with keyword arguments, for Python callers.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from .compute import compute_source
from .executors import Executor, LocalExecutor
from .job import ExtractJob
from .progress import NoProgress, Progress
from .results import RunReport, TrackResult
from .runtime import Runtime, load_extractors
from .tracks import plan_inputs
from .write_source import extract_source

# the steps, for callers that drive one source themselves (bench/)
__all__ = ["RunReport", "TrackResult", "compute_source", "extract", "extract_source",
           "load_extractors", "run_job"]


def run_job(job: ExtractJob, executor: Executor, progress: Progress | None = None) -> RunReport:
    """Run ``job`` on ``executor``; bad inputs and failed tracks are in the report, not raised.

    Raises only for what stops the whole run: an unknown model or option, nothing to read, an
    unusable store or labels folder, weights that do not load.
    """
    progress = progress or NoProgress()
    t0 = time.perf_counter()
    job = replace(job, models=tuple(job.check()))
    plans, problems = plan_inputs(list(job.inputs), job.tracks if job.tracks is not None else job.labels)
    for subject, reason in problems.items():
        progress.problem(subject, reason)
    report = RunReport(problems=problems)
    if plans:
        from .core.store import FeatureStore  # zarr loads only when there is something to write

        FeatureStore(job.out)  # created (with its format marker) once, before any worker
        progress.start(len(plans))
        report.results = executor.run(job, plans, progress)
    report.seconds = time.perf_counter() - t0
    return report


def extract(inputs: list[str | Path], models: list[str] | str, out: str | Path,
            labels: str | Path | None = None, faces_dir: str | Path | None = None,
            dtype: str = "float16", overwrite: bool = False,
            weights: Mapping[str, str] | None = None, device: str | None = None,
            batch_size: int | None = None, progress: Progress | None = None,
            executor: Executor | None = None, *, precision: str | None = None,
            options: Mapping[str, Mapping[str, Any]] | None = None,
            tracks: Mapping[str, int | None] | None = None, audio_fps: float | None = None,
            detect_every: int | None = None) -> RunReport:
    """``featurizer extract`` as a function (``executor``: ``LocalExecutor()`` by default)."""
    runtime = Runtime(dict(weights or {}), device, batch_size, precision, dict(options or {}))
    extra: dict[str, Any] = {"audio_fps": audio_fps} if audio_fps is not None else {}
    if detect_every is not None:
        extra["detect_every"] = detect_every
    job = ExtractJob.of(inputs, models, out, labels=labels, tracks=tracks, faces=faces_dir, dtype=dtype,
                        overwrite=overwrite, runtime=runtime, **extra)
    return run_job(job, executor or LocalExecutor(), progress)
