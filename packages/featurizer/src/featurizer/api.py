"""featurizer from Python: list, build and run extractors, and read the store (timm-style).

Each function is a command's own code path, not a second one:

- :func:`list_models`: the registry's names, as ``featurizer models`` lists them (nothing loads);
- :func:`create_extractor`: one loaded extractor, built the way ``featurizer extract`` builds its
  models (:class:`~featurizer.runtime.Runtime`: the same typed options, checks and one-line errors
  as ``--weights``, ``--device``, ``--precision`` and ``--option NAME.KEY=VALUE``);
- :func:`extract`: ``featurizer extract`` itself (an :class:`~featurizer.job.ExtractJob` handed to
  :func:`~featurizer.pipeline.run_job`), quiet unless asked, returning an :class:`ExtractSummary`;
- :func:`open_store`: the store, read through :class:`~featurizer.core.store.FeatureStore`.

Errors are the package's: :class:`~featurizer.errors.FeaturizerError` and its kinds, one line
each (subject: reason (hint)). Only the calls import the libraries they need, not this module.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from .errors import UnknownModelError
from .results import RunReport

if TYPE_CHECKING:
    from .core.store import FeatureStore
    from .executors import Executor
    from .extractor import Extractor
    from .progress import Progress
    from .runtime import Runtime

__all__ = ["ExtractSummary", "create_extractor", "extract", "list_models", "open_store"]

MODALITIES = ("audio", "visual")
Paths = str | os.PathLike | Sequence[str | os.PathLike]


def list_models(pattern: str | None = None, modality: str | None = None) -> list[str]:
    """The registered extractor names, in ``featurizer models``' order (by modality, then name).

    ``pattern``: a shell-style glob matched case-insensitively (``"*face*"``, ``"hu*"``);
    ``modality``: ``"audio"`` or ``"visual"``. Variants (``hubert:last``, ``ecapatdnn:1.5``) are
    not listed: :func:`create_extractor` and :func:`extract` take them by name. No model library
    is imported; ``featurizer models --json`` (or ``featurizer.registry.get_spec(name).row()``)
    gives each one's dim, timing, weights and options.
    """
    from .registry import list_models as specs

    if modality is not None and modality not in MODALITIES:
        raise UnknownModelError(f"modality {modality!r}", "is not audio or visual")
    names = [s.name for s in specs(modality)]  # type: ignore[arg-type]
    if pattern is None:
        return names
    return [n for n in names if fnmatchcase(n.lower(), pattern.lower())]


def create_extractor(name: str, weights: str | os.PathLike | None = None, device: str | None = "auto",
                     precision: str | None = "auto", **options: Any) -> Extractor:
    """The loaded extractor ``name`` (a registered name or variant, e.g. ``"hubert:last"``), as
    ``featurizer extract --model NAME`` builds it.

    ``weights``: a SOURCE as ``--weights NAME=SOURCE`` takes (hub id, local folder, state-dict
    file, URL, ``"random"``); None: the extractor's default. ``device``: ``"auto"`` (CUDA when
    available, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``; ``precision``: ``"auto"``,
    ``"fp32"``, ``"bf16"`` or ``"fp16"``. The automatic defaults are left out for extractors that
    take no device or precision; an explicit value such an extractor does not take is an error.
    ``options``: the extractor's typed options (``batch_size=8``, ``layer="last"`` ...; strings are
    parsed as ``--option NAME.KEY=VALUE`` values are), checked against what it declares.

    Audio extractors implement ``extract_audio`` (``hop`` timing) or ``extract_windows``, visual
    ones ``extract_faces``; ``provenance()`` is what the store records of it.
    """
    from . import extras
    from .registry import get_spec
    from .runtime import FreshModels

    if not isinstance(name, str):
        raise UnknownModelError(repr(name), "expected an extractor name (a string)",
                                "featurizer.list_models() lists them")
    name = name.strip()
    get_spec(name)  # an unknown name first, with the known ones, before any extra is asked for
    extras.require("extract", "featurizer.create_extractor")
    runtime = _runtime([name], {name: str(weights)} if weights is not None else {}, device, None,
                       precision, {name: options} if options else {})
    (extractor,) = FreshModels().extractors([name], runtime)
    return extractor


@dataclass
class ExtractSummary(RunReport):
    """What :func:`extract` did: the run's :class:`~featurizer.results.RunReport` (``results``: one
    :class:`~featurizer.results.TrackResult` per track; ``problems``: inputs refused before
    extraction, with why; ``failed``, ``ok``, ``seconds``), the store and the run's warnings."""

    out: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def written(self) -> dict[str, list[str]]:
        """Track -> the models whose arrays this run wrote (complete arrays it skipped are not)."""
        return {r.track: list(r.models) for r in self.results if r.models}

    @property
    def videos(self) -> dict[str, str]:
        """Source video -> ``"done"``, ``"skipped"`` (complete already) or ``"failed"``: failed if
        any of its tracks failed, done if any was extracted; refused inputs are in ``problems``."""
        out: dict[str, str] = {}
        rank = {"skipped": 0, "done": 1, "failed": 2}
        for r in self.results:
            if rank[r.status] >= rank.get(out.get(r.video, "skipped"), 0):
                out[r.video] = r.status
        return out

    def store(self) -> FeatureStore:
        """The store written, opened read-only."""
        return open_store(self.out)

    def __str__(self) -> str:
        return self.counts()


def extract(videos: Paths, models: str | Sequence[str], out: str | os.PathLike, *,
            weights: Mapping[str, str | os.PathLike] | Sequence[str] | None = None,
            device: str | None = "auto", precision: str | None = "auto", batch_size: int | None = None,
            options: Mapping[str, Mapping[str, Any]] | Sequence[str] | None = None,
            labels: str | os.PathLike | None = None, faces: str | os.PathLike | None = None,
            detector: str = "retinaface", detect_every: int | None = None, dtype: str = "float16",
            overwrite: bool = False, audio_fps: float | None = None, executor: str | Executor = "local",
            progress: bool | Progress = False) -> ExtractSummary:
    """``featurizer extract VIDEOS --model MODELS --out OUT``, as a function: the same job, checks,
    store and resumption (complete arrays are skipped unless ``overwrite``).

    ``videos``: a video or audio file, a folder (searched recursively) or a list of them;
    ``models``: ``"egemaps,fbank"`` or a list of names. ``weights``: ``{NAME: SOURCE}`` (or
    ``["NAME=SOURCE"]``); ``options``: ``{NAME: {KEY: VALUE}}`` (or ``["NAME.KEY=VALUE"]``);
    ``device``/``precision`` as in :func:`create_extractor` (the CLI's default device is ``cpu``:
    pass ``device="cpu"`` for its exact run on a machine with CUDA); ``batch_size``, ``labels``,
    ``faces``, ``detector``, ``detect_every`` (default 10), ``dtype``, ``audio_fps`` as the command's flags. ``executor``:
    ``"local"``, ``"ray"`` (featurizer[ray], a local cluster), or an executor object (e.g.
    ``RayExecutor(RayOptions(address=...))``). ``progress``: False (quiet), True (the command's
    rich bars, problems and warnings on stderr) or a :class:`~featurizer.progress.Progress`.

    Raises (one line) only for what stops the whole run: an unknown model or option, an unusable
    store or labels folder, weights that do not load. Bad inputs and failed tracks are in the
    summary (``problems``, ``failed``; ``ok`` is False), as the command reports them.
    """
    from contextlib import nullcontext

    from . import extras
    from .executors import make_executor
    from .job import ExtractJob
    from .pipeline import run_job
    from .progress import Collected, RichProgress
    from .registry import parse_model_list

    names = parse_model_list(models if isinstance(models, str) else list(models))
    extras.require("extract", "featurizer.extract")
    runner = make_executor(executor) if isinstance(executor, str) else executor
    runtime = _runtime(names, _weights(weights), device, batch_size, precision, _options(options))
    inputs = [videos] if isinstance(videos, (str, os.PathLike)) else list(videos)
    more: dict[str, Any] = {} if audio_fps is None else {"audio_fps": audio_fps}
    if detect_every is not None:
        from .faces.tracker import check_detect_every

        more["detect_every"] = check_detect_every(detect_every, "detect_every")
    job = ExtractJob.of(inputs, names, out, labels=labels, faces=faces, detector=detector, dtype=dtype,
                        overwrite=overwrite, runtime=runtime, **more)
    if progress is True:
        from rich.console import Console

        prog: Any = RichProgress(Console(stderr=True))
        context: Any = prog
    else:
        prog = progress or Collected()
        context = nullcontext()
    with context:
        report = run_job(job, runner, prog)
    return ExtractSummary(report.results, report.problems, report.seconds, out=job.out,
                          warnings=list(getattr(prog, "warnings", [])))


def open_store(path: str | os.PathLike, mode: str = "r") -> FeatureStore:
    """The feature store at ``path`` (a directory or fsspec URL): read-only by default, ``"a"`` to
    add to it. Tracks: ``tracks()``; a feature: ``read_feature(track, model)`` (``values``,
    ``present``, ``attrs``); ``timestamps(track)``; ``feature(track, model)`` (its facts only)."""
    from .core.store import FeatureStore

    return FeatureStore(path, mode)


def _runtime(names: list[str], weights: dict[str, str], device: str | None, batch_size: int | None,
             precision: str | None, options: dict[str, dict[str, Any]]) -> Runtime:
    """The run's :class:`Runtime`, checked against ``names`` as the command's is; ``device="auto"``
    (this API's default) is dropped when none of ``names`` runs on a device."""
    from .registry import get_spec
    from .runtime import Runtime

    if isinstance(device, str) and device.strip().lower() == "auto" and \
            not any(get_spec(n).takes("device") for n in names):
        device = None
    runtime = Runtime(weights, device, batch_size, precision, options)
    runtime.check(names)
    return runtime


def _weights(weights: Mapping[str, str | os.PathLike] | Sequence[str] | None) -> dict[str, str]:
    from .job import parse_weights

    if weights is None:
        return {}
    if isinstance(weights, Mapping):
        return {str(k): str(v) for k, v in weights.items()}
    return parse_weights([weights] if isinstance(weights, str) else list(weights))


def _options(options: Mapping[str, Mapping[str, Any]] | Sequence[str] | None) -> dict[str, dict[str, Any]]:
    from .job import parse_options

    if options is None:
        return {}
    if not isinstance(options, Mapping):
        return dict(parse_options([options] if isinstance(options, str) else list(options)))
    out = {}
    for name, opts in options.items():
        if not isinstance(opts, Mapping):
            raise UnknownModelError(f"options[{name!r}]", "expected a mapping of option names to values",
                                    f"e.g. options={{{name!r}: {{'batch_size': 8}}}}")
        out[str(name)] = dict(opts)
    return out
