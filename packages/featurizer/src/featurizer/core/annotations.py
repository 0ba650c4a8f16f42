"""Aff-Wild2 expression annotation files: the one reader both packages use.

One ``<track>.txt`` per annotated face track, searched recursively below a folder (usually with
``Train_Set/`` and ``Validation_Set/`` sub-folders). Line 1 is the class header
(:data:`~featurizer.core.classes.HEADER`); each next line is one frame's label, 0-7, or -1 for
unannotated. Line i (1-based, header excluded) is frame ``f"{i:05d}.jpg"``, i.e. store row
``i - 1``. Trailing blank lines are ignored; a blank line inside the file is an error (skipping
it would shift every later frame).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .classes import HEADER, N_CLASSES
from .errors import LabelError

SPLITS = ("Train_Set", "Validation_Set")
_SIDE = re.compile(r"^(?P<video>.+)_(?P<side>left|right)$")


@dataclass(frozen=True)
class AnnotationFile:
    track: str
    path: Path
    split: str | None  # the split folder (Train_Set, Validation_Set, ...) it sits under, if any


def read_annotation(path: str | Path) -> np.ndarray:
    """One annotation file -> (n,) int8 labels, -1 = unannotated."""
    p = Path(path)
    try:
        text = p.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise LabelError(p, f"cannot read annotation file ({e.__class__.__name__})") from None
    return parse_annotation(text, p)


def parse_annotation(text: str, p: str | Path) -> np.ndarray:
    """Annotation text (e.g. an uploaded one) -> labels; ``p`` names it in errors."""
    lines = text.splitlines()
    if not lines:
        raise LabelError(p, "annotation file is empty", f"line 1 must be the class header {HEADER}")
    head = lines[0].split(",")[0].strip()
    if not head or head.lstrip("-").isdigit():
        raise LabelError(p, "line 1 is not the class header", f"expected {HEADER}")
    body = [s.strip() for s in lines[1:]]
    while body and not body[-1]:
        body.pop()  # trailing blank lines
    if not body:
        raise LabelError(p, "annotation file has a header but no frames")
    out = np.empty(len(body), np.int8)
    for k, s in enumerate(body):
        lineno = k + 2
        if not s:
            raise LabelError(p, f"line {lineno} is blank", "every line after the header is one frame's label")
        try:
            v = int(s.split(",")[0])
        except ValueError:
            raise LabelError(p, f"line {lineno}: {s!r} is not a label", "labels are -1..7") from None
        if not -1 <= v < N_CLASSES:
            raise LabelError(p, f"line {lineno}: label {v} is outside -1..7")
        out[k] = v
    return out


def write_annotation(path: str | Path, labels: np.ndarray | list[int]) -> Path:
    """Write labels (-1..7) as an annotation file (header, one label per line)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(HEADER + "\n" + "".join(f"{int(v)}\n" for v in labels))
    return p


def find_annotations(root: str | Path, splits: tuple[str, ...] = SPLITS) -> dict[str, AnnotationFile]:
    """Track name -> its annotation file below ``root``; ``split`` is the innermost folder named
    like one of ``splits`` (case-insensitive), or None."""
    r = Path(root)
    if not r.is_dir():
        raise LabelError(r, "labels folder not found", "pass the folder that holds the annotation .txt files")
    lowered = {s.lower(): s for s in splits}
    found: dict[str, AnnotationFile] = {}
    for f in sorted(r.rglob("*.txt")):
        if f.stem in found:
            raise LabelError(f, f"track {f.stem!r} is annotated twice (also {found[f.stem].path})")
        folders = r.resolve().parts + f.relative_to(r).parts[:-1]  # outermost first
        split = next((lowered[d.lower()] for d in reversed(folders) if d.lower() in lowered), None)
        found[f.stem] = AnnotationFile(f.stem, f, split)
    if not found:
        raise LabelError(r, "no annotation .txt files below this folder")
    return found


def source_video(track: str) -> str:
    """``X_left`` / ``X_right`` -> ``X``; every other name is its own video (``video45_3``)."""
    m = _SIDE.match(track)
    return m.group("video") if m else track


def track_side(track: str) -> str | None:
    """``left`` / ``right`` for two-face tracks, else None."""
    m = _SIDE.match(track)
    return m.group("side") if m else None
