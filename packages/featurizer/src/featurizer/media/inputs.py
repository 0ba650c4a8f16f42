"""Which tracks to extract and from which file: inputs checked, then label rows mapped to them.

Every input is opened (its header only) before any model loads, so a missing, empty or
undecodable file is reported at once and the run goes on with the others.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..core.annotations import find_annotations, read_labels, source_video
from ..core.errors import LabelError
from ..errors import FeaturizerError, MediaError
from .decode import VIDEO_SUFFIXES, find_media, probe_streams

Labels = str | Path | Mapping[str, int | None] | None


@dataclass
class TrackPlan:
    track: str
    n_labels: int | None = None  # label rows; None: one per video frame
    label_file: Path | None = None


@dataclass
class SourcePlan:
    """One source file and the tracks read from it (audio is computed once for all of them)."""

    video: Path
    tracks: list[TrackPlan] = field(default_factory=list)


def plan_inputs(inputs: list[str | Path], labels: Labels = None) -> tuple[list[SourcePlan], dict[str, str]]:
    """Find the media files of ``inputs``, open each one's header, map tracks to them.

    Returns the plans and {input: why it is not extracted} for the rest. Raises only when there
    is nothing to look at (no media file at all, or an unusable labels folder).
    """
    files = find_media(list(inputs))
    problems: dict[str, str] = {}
    usable = []
    for f in files:
        try:
            probe_streams(f)
            usable.append(f)
        except MediaError as e:
            problems[str(f)] = f"{e.reason} ({e.hint})" if e.hint else e.reason
    if not files:
        raise MediaError(", ".join(map(str, inputs)) or "(no input)", "no video or audio files found",
                         f"looked for {', '.join(sorted(VIDEO_SUFFIXES))} and audio files")
    plans, unmapped = plan_sources(usable, labels)
    return plans, {**problems, **unmapped}


def plan_sources(videos: list[Path], labels: Labels = None) -> tuple[list[SourcePlan], dict[str, str]]:
    """Map tracks to files by name (``X_left``/``X_right`` read ``X``): from an annotation folder,
    or from label counts per track. Returns the plans and {input: problem} for what is unmapped."""
    by_stem: dict[str, Path] = {}
    problems: dict[str, str] = {}
    for v in videos:
        if v.stem in by_stem:
            problems[str(v)] = f"same name as {by_stem[v.stem]}; track ids must be unique"
            continue
        by_stem[v.stem] = v
    if labels is None:
        return [SourcePlan(v, [TrackPlan(v.stem)]) for v in by_stem.values()], problems
    plans: dict[str, SourcePlan] = {}
    tracks: dict[str, tuple[Path | None, str]]  # track -> (annotation file, what a problem names)
    if isinstance(labels, Mapping):
        tracks = {t: (None, t) for t in labels}
    else:
        tracks = {t: (a.path, str(a.path)) for t, a in find_annotations(labels).items()}
    for track, (label_file, origin) in tracks.items():
        name = track if track in by_stem else source_video(track)
        if name not in by_stem:
            problems[origin] = f"no video named {track!r}" + (
                f" or {name!r}" if name != track else "") + " among the inputs"
            continue
        try:
            n = labels[track] if isinstance(labels, Mapping) else len(read_labels(label_file))
        except LabelError as e:
            problems[origin] = e.reason
            continue
        if n is not None and n < 1:
            raise FeaturizerError(f"track {track}", f"{n} label rows", "give at least one row")
        plans.setdefault(name, SourcePlan(by_stem[name])).tracks.append(TrackPlan(track, n, label_file))
    return list(plans.values()), problems
