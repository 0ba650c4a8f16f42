"""Which tracks to extract and from which video: annotation files mapped to input videos."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .core.annotations import find_annotations, read_annotation, source_video
from .core.errors import LabelError


@dataclass
class TrackPlan:
    track: str
    n_labels: int | None = None
    label_file: Path | None = None


@dataclass
class SourcePlan:
    """One source video and the tracks read from it (audio is computed once for all of them)."""

    video: Path
    tracks: list[TrackPlan] = field(default_factory=list)


def plan_sources(
    videos: list[Path], labels_dir: str | Path | None = None
) -> tuple[list[SourcePlan], dict[str, str]]:
    """Map tracks to videos. Returns the plans and {input: problem} for what could not be mapped."""
    by_stem: dict[str, Path] = {}
    problems: dict[str, str] = {}
    for v in videos:
        if v.stem in by_stem:
            problems[str(v)] = f"same name as {by_stem[v.stem]}; track ids must be unique"
            continue
        by_stem[v.stem] = v
    if labels_dir is None:
        return [SourcePlan(v, [TrackPlan(v.stem)]) for v in by_stem.values()], problems
    plans: dict[str, SourcePlan] = {}
    for track, ann in find_annotations(labels_dir).items():
        name = track if track in by_stem else source_video(track)
        if name not in by_stem:
            problems[str(ann.path)] = f"no video named {track!r}" + (
                f" or {name!r}" if name != track else "") + " among the inputs"
            continue
        try:
            n = len(read_annotation(ann.path))
        except LabelError as e:
            problems[str(ann.path)] = e.reason
            continue
        plans.setdefault(name, SourcePlan(by_stem[name])).tracks.append(TrackPlan(track, n, ann.path))
    return list(plans.values()), problems
