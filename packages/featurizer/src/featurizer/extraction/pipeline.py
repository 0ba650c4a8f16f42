"""The one extraction path: ``run_job(job, executor, progress) -> RunReport``.

``featurizer extract``, the HTTP service and Ray all hand an :class:`~featurizer.extraction.job.ExtractJob`
to :func:`run_job`, which

1. checks the job against the registry (models, typed options, dtype): nothing loads;
2. opens every input's header and maps the label rows to it: bad inputs are reported at once
   (``progress.problem``) and the run goes on with the rest; when no input is left, no model is
   ever loaded;
3. opens (or creates) the store, then has the executor extract each source: the executor loads
   the models, skips complete arrays (a killed run resumes) and turns failures into results.

``featurizer.extract`` (:mod:`featurizer.api`) builds the job from keyword arguments for
Python callers and hands it here.
"""

from __future__ import annotations

import time
from dataclasses import replace

from ..media.inputs import plan_inputs
from ..progress import NoProgress, Progress
from .executors import Executor
from .job import ExtractJob
from .results import RunReport

__all__ = ["RunReport", "run_job"]


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
        from ..core.store import FeatureStore  # zarr loads only when there is something to write

        FeatureStore(job.out)  # created (with its format marker) once, before any worker
        progress.start(len(plans))
        report.results = executor.run(job, plans, progress)
    report.seconds = time.perf_counter() - t0
    return report
