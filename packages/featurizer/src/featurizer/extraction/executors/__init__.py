"""Where a job's sources are extracted: an :class:`Executor` object handed to ``run_job``.

:class:`~.local.LocalExecutor` runs in this process; :class:`~.ray.RayExecutor` on a Ray cluster.
Both call :func:`~featurizer.extraction.write.extract_source` per source with the same atomic
store writes, so their stores are equal.
"""

from __future__ import annotations

from typing import Protocol

from ...errors import FeaturizerError
from ...media.inputs import SourcePlan
from ...progress import Progress
from ..job import ExtractJob
from ..results import TrackResult
from .local import LocalExecutor

__all__ = ["EXECUTORS", "Executor", "LocalExecutor", "make_executor"]


class Executor(Protocol):
    def run(self, job: ExtractJob, plans: list[SourcePlan], progress: Progress) -> list[TrackResult]:
        """Extract ``plans`` into ``job.out``; one result per track, failures included."""


EXECUTORS = ("local", "ray")


def make_executor(kind: str = "local", *, address: str | None = None, gpus_per_task: float = 0.0,
                  workers: int | None = None) -> Executor:
    """The executor ``featurizer extract --executor KIND`` runs on: this process (``local``), or a
    Ray cluster (``ray``: ``address``, GPUs per task, workers per extractor group; featurizer[ray])."""
    if kind not in EXECUTORS:
        raise FeaturizerError(f"--executor {kind}", "unknown executor", "choose local or ray")
    if kind == "ray":
        from ... import extras

        extras.require("ray", "featurizer extract --executor ray")
        from .ray import RayExecutor, RayOptions

        return RayExecutor(RayOptions(address=address, gpus_per_task=gpus_per_task, workers_per_group=workers))
    return LocalExecutor()
