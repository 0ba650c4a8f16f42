"""Which tracks to extract and from which video: Aff-Wild2 annotation files, track-to-video mapping."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import LabelError

EXPR_CLASSES = ("Neutral", "Anger", "Disgust", "Fear", "Happiness", "Sadness", "Surprise", "Other")
_SIDE = re.compile(r"^(?P<video>.+)_(?P<side>left|right)$")


def read_annotation(path: str | Path) -> np.ndarray:
    """One Aff-Wild2 expression file -> (n,) int8 labels (-1 = unannotated)."""
    p = Path(path)
    try:
        lines = p.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise LabelError(p, f"cannot read annotation file ({e})") from None
    if not lines:
        raise LabelError(p, "annotation file is empty", "line 1 must be the class header")
    if not lines[0].strip() or lines[0].split(",")[0].strip().lstrip("-").isdigit():
        raise LabelError(p, "line 1 is not a header", f"expected {','.join(EXPR_CLASSES)}")
    out = np.empty(len(lines) - 1, np.int8)
    n = 0
    for lineno, line in enumerate(lines[1:], start=2):
        s = line.strip()
        if not s:
            continue
        try:
            v = int(s.split(",")[0])
        except ValueError:
            raise LabelError(p, f"line {lineno}: {s!r} is not a label", "labels are -1..7") from None
        if not -1 <= v <= 7:
            raise LabelError(p, f"line {lineno}: label {v} outside -1..7")
        out[n] = v
        n += 1
    if n == 0:
        raise LabelError(p, "annotation file has a header but no frames")
    return out[:n]


def find_annotations(root: str | Path) -> dict[str, Path]:
    """Track name -> annotation file, searched recursively below ``root``."""
    r = Path(root)
    if not r.is_dir():
        raise LabelError(r, "labels folder not found")
    found: dict[str, Path] = {}
    for f in sorted(r.rglob("*.txt")):
        if f.stem in found:
            raise LabelError(f, f"track {f.stem!r} annotated twice (also {found[f.stem]})")
        found[f.stem] = f
    if not found:
        raise LabelError(r, "no annotation .txt files below this folder")
    return found


def source_video_name(track: str) -> str:
    """``X_left``/``X_right`` -> ``X``; every other name is its own video (``video45_3``)."""
    m = _SIDE.match(track)
    return m.group("video") if m else track


def track_side(track: str) -> str | None:
    m = _SIDE.match(track)
    return m.group("side") if m else None


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
    for track, f in find_annotations(labels_dir).items():
        name = track if track in by_stem else source_video_name(track)
        if name not in by_stem:
            problems[str(f)] = f"no video named {track!r}" + (
                f" or {name!r}" if name != track else "") + " among the inputs"
            continue
        try:
            n = len(read_annotation(f))
        except LabelError as e:
            problems[str(f)] = e.reason
            continue
        plans.setdefault(name, SourcePlan(by_stem[name])).tracks.append(TrackPlan(track, n, f))
    return list(plans.values()), problems
