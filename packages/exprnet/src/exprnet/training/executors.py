"""Where independent trainings run: here, one after another, or as tasks on a Ray cluster.

``sweep`` and ``reproduce`` hand :func:`run_tasks` a module-level function and its arguments;
results come back in the order of the arguments.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError

EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class Executor:
    kind: str = "local"
    address: str | None = None  # Ray: auto, ray://host:10001; None starts a local cluster
    gpus: float = 0.0  # per task (Ray)
    cpus: float = 1.0  # per task (Ray)

    def __post_init__(self) -> None:
        if self.kind not in EXECUTORS:
            raise ConfigError(f"--executor {self.kind}", "choose local or ray")


def run_tasks(fn: Callable[..., Any], args: Sequence[tuple], executor: Executor,
              on_done: Callable[[int, Any], None] | None = None) -> list[Any]:
    """``[fn(*a) for a in args]``, locally or on Ray; ``on_done(i, result)`` as each finishes."""
    if executor.kind == "local":
        out = []
        for i, a in enumerate(args):
            out.append(fn(*a))
            if on_done:
                on_done(i, out[-1])
        return out
    try:
        import ray
    except ImportError:
        raise ConfigError("--executor ray", "Ray is not installed", "pip install 'exprnet[ray]'") from None
    from featurizer.core.cluster import start_ray

    started = start_ray(executor.address)
    try:
        task = ray.remote(num_gpus=executor.gpus, num_cpus=executor.cpus, max_retries=2)(fn)
        refs = {task.remote(*a): i for i, a in enumerate(args)}
        results: dict[int, Any] = {}
        while refs:
            done, _ = ray.wait(list(refs), num_returns=1)
            for ref in done:
                i = refs.pop(ref)
                results[i] = ray.get(ref)
                if on_done:
                    on_done(i, results[i])
        return [results[i] for i in range(len(args))]
    finally:
        if started:
            ray.shutdown()
