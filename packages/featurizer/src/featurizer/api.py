"""featurizer from Python: list, build and run extractors, and read the store (timm-style).

Each function is a command's own code path, not a second one:

- :func:`list_models`: the registry's names, as ``featurizer models`` lists them (nothing loads);
- :func:`create_extractor`: one loaded extractor, built the way ``featurizer extract`` builds its
  models (:class:`~featurizer.models.runtime.Runtime`: the same typed options, checks and one-line errors
  as ``--weights``, ``--device``, ``--precision`` and ``--option NAME.KEY=VALUE``);
- :func:`extract`: ``featurizer extract`` itself (an :class:`~featurizer.extraction.job.ExtractJob` handed to
  :func:`~featurizer.extraction.pipeline.run_job`), quiet unless asked, returning an :class:`ExtractSummary`;
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
from .extraction.results import RunReport

if TYPE_CHECKING:
    from .core.store import FeatureStore
    from .extraction.executors import Executor
    from .faces import FaceSource
    from .models.cache import ModelCache
    from .models.extractor import Extractor
    from .models.registry import ExtractorSpec
    from .models.runtime import Runtime
    from .progress import Progress

__all__ = ["ExtractSummary", "create_extractor", "describe_model", "extract", "list_models", "open_store"]

MODALITIES = ("audio", "visual")
Paths = str | os.PathLike | Sequence[str | os.PathLike]


def list_models(pattern: str | None = None, modality: str | None = None) -> list[str]:
    """The registered extractor names, in ``featurizer models``' order (by modality, then name).

    ``pattern``: a shell-style glob matched case-insensitively (``"*face*"``, ``"hu*"``);
    ``modality``: ``"audio"`` or ``"visual"``. Variants (``hubert:last``, ``ecapatdnn:1.5``) are
    not listed: :func:`create_extractor` and :func:`extract` take them by name. No model library
    is imported; :func:`describe_model` (``featurizer models --json``) gives each one's dim,
    timing, weights and options.
    """
    from .models.registry import specs

    if modality is not None and modality not in MODALITIES:
        raise UnknownModelError(f"modality {modality!r}", "is not audio or visual")
    names = [s.name for s in specs(modality)]  # type: ignore[arg-type]
    if pattern is None:
        return names
    return [n for n in names if fnmatchcase(n.lower(), pattern.lower())]


def describe_model(name: str) -> ExtractorSpec:
    """What the registry declares of ``name`` (a name or variant, ``"hubert:last"``), loading
    nothing: ``dim``, ``modality``, ``timing``, ``licence``, ``trained_on``, ``description``,
    ``weights_source``, ``takes(option)``; ``row()`` is its ``featurizer models --json`` entry."""
    from .models.registry import get_spec

    if not isinstance(name, str):
        raise UnknownModelError(repr(name), "expected an extractor name (a string)",
                                "featurizer.list_models() lists them")
    return get_spec(name.strip())


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
    from .models.registry import get_spec
    from .models.runtime import FreshModels

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
    """What :func:`extract` did: the run's :class:`~featurizer.extraction.results.RunReport` (``results``: one
    :class:`~featurizer.extraction.results.TrackResult` per track; ``problems``: inputs refused before
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
            labels: str | os.PathLike | None = None, tracks: Mapping[str, int | None] | None = None,
            faces: str | os.PathLike | FaceSource | None = None, detector: str = "retinaface",
            detect_every: int | None = None, dtype: str = "float16", overwrite: bool = False,
            audio_fps: float | None = None, executor: str | Executor = "local", cache: ModelCache | None = None,
            shared: bool = False,
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

    For programs that run many jobs on models loaded once (a server, ``exprnet infer``):
    ``cache``, a :class:`~featurizer.models.cache.ModelCache` whose models (and their weights,
    device, precision and options) the run uses instead of building its own (``weights``,
    ``device``, ``precision``, ``batch_size`` and ``options`` are then the cache's: leave them
    out); ``faces``, besides a ``cropped_aligned`` folder, a face source object already holding
    the videos' detections (:class:`~featurizer.faces.DetectedFaces` after ``scan``);
    ``tracks``, label rows per track held in memory (``{track: n_rows}``, None: one per video
    frame) instead of a ``labels`` folder; ``shared``: other jobs run in this process at the same
    time, so process-wide settings (torch threads, warning filters) are left alone.

    Raises (one line) only for what stops the whole run: an unknown model or option, an unusable
    store or labels folder, weights that do not load. Bad inputs and failed tracks are in the
    summary (``problems``, ``failed``; ``ok`` is False), as the command reports them.
    """
    from contextlib import nullcontext

    from . import extras
    from .extraction.executors import LocalExecutor, make_executor
    from .extraction.job import ExtractJob
    from .extraction.pipeline import run_job
    from .models.registry import parse_model_list
    from .progress import Collected, RichProgress

    names = parse_model_list(models if isinstance(models, str) else list(models))
    extras.require("extract", "featurizer.extract")
    if cache is not None:
        given = {"weights": weights, "precision": None if precision == "auto" else precision,
                 "batch_size": batch_size, "options": options,
                 "device": None if device == "auto" else device}
        clash = [k for k, v in given.items() if v]
        if clash:
            raise UnknownModelError(f"extract({clash[0]}=...)", "a model cache builds the models with its own "
                                    "settings", "leave it out, or give it to the ModelCache")
        runtime = cache.runtime.serving(names)
        runtime.check(names)
    else:
        runtime = _runtime(names, _weights(weights), device, batch_size, precision, _options(options))
    face_source = None if faces is None or isinstance(faces, (str, os.PathLike)) else faces
    if isinstance(executor, str):
        runner = LocalExecutor(cache, shared=shared, faces=face_source) if executor == "local" \
            else make_executor(executor)
    else:
        runner = executor
    if face_source is not None and not isinstance(runner, LocalExecutor):
        raise UnknownModelError("extract(faces=...)", "a face source object runs in this process only",
                                "give a cropped_aligned folder, or executor='local'")
    inputs = [videos] if isinstance(videos, (str, os.PathLike)) else list(videos)
    more: dict[str, Any] = {} if audio_fps is None else {"audio_fps": audio_fps}
    if detect_every is not None:
        from .faces.tracker import check_detect_every

        more["detect_every"] = check_detect_every(detect_every, "detect_every")
    job = ExtractJob.of(inputs, names, out, labels=labels, tracks=tracks,
                        faces=None if face_source is not None else faces, detector=detector, dtype=dtype,
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
    from .models.registry import get_spec
    from .models.runtime import Runtime

    if isinstance(device, str) and device.strip().lower() == "auto" and \
            not any(get_spec(n).takes("device") for n in names):
        device = None
    runtime = Runtime(weights, device, batch_size, precision, options)
    runtime.check(names)
    return runtime


def _weights(weights: Mapping[str, str | os.PathLike] | Sequence[str] | None) -> dict[str, str]:
    from .extraction.job import parse_weights

    if weights is None:
        return {}
    if isinstance(weights, Mapping):
        return {str(k): str(v) for k, v in weights.items()}
    return parse_weights([weights] if isinstance(weights, str) else list(weights))


def _options(options: Mapping[str, Mapping[str, Any]] | Sequence[str] | None) -> dict[str, dict[str, Any]]:
    from .extraction.job import parse_options

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
