"""Aff-Wild2 expression annotation files: one ``<track>.txt`` per track, searched recursively.

Line 1 is the class header, then one label per line (-1..7); line i (1-based after the header) is
frame ``f"{i:05d}.jpg"``, i.e. store row ``i - 1``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import LabelError

_SIDE = re.compile(r"^(?P<video>.+)_(?:left|right)$")


@dataclass(frozen=True)
class LabelFile:
    track: str
    path: Path
    split: str | None  # the Train_Set / Validation_Set folder it sits under, if any


def source_video(track: str) -> str:
    """``X_left`` / ``X_right`` -> ``X``; any other name is its own video (``video45_3``)."""
    m = _SIDE.match(track)
    return m.group("video") if m else track


def read_labels(path: str | Path) -> np.ndarray:
    """One annotation file -> (n,) int8 labels, -1 = unannotated."""
    p = Path(path)
    try:
        lines = p.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise LabelError(str(p), f"cannot read annotation file ({e.__class__.__name__})") from None
    if not lines:
        raise LabelError(str(p), "annotation file is empty", "line 1 must be the class header")
    head = lines[0].split(",")[0].strip()
    if not head or head.lstrip("-").isdigit():
        raise LabelError(str(p), "line 1 is not the class header",
                         "expected Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise,Other")
    body = [(i, s.strip()) for i, s in enumerate(lines[1:], start=2)]
    while body and not body[-1][1]:
        body.pop()  # trailing blank lines
    if not body:
        raise LabelError(str(p), "annotation file has a header but no frames")
    out = np.empty(len(body), np.int8)
    for k, (lineno, s) in enumerate(body):
        try:
            v = int(s.split(",")[0])
        except ValueError:
            raise LabelError(str(p), f"line {lineno}: {s!r} is not a label", "labels are -1..7") from None
        if not -1 <= v <= 7:
            raise LabelError(str(p), f"line {lineno}: label {v} is outside -1..7")
        out[k] = v
    return out


def find_label_files(root: str | Path, splits: tuple[str, ...] = ("Train_Set", "Validation_Set")
                     ) -> dict[str, LabelFile]:
    """Track name -> its annotation file, searched recursively; ``split`` from the folder names."""
    r = Path(root)
    if not r.is_dir():
        raise LabelError(str(r), "labels folder not found")
    found: dict[str, LabelFile] = {}
    lowered = {s.lower(): s for s in splits}
    for f in sorted(r.rglob("*.txt")):
        if f.stem in found:
            raise LabelError(str(f), f"track {f.stem!r} is annotated twice (also {found[f.stem].path})")
        folders = r.resolve().parts + f.relative_to(r).parts[:-1]  # outermost first
        split = next((lowered[d.lower()] for d in reversed(folders) if d.lower() in lowered), None)
        found[f.stem] = LabelFile(f.stem, f, split)
    if not found:
        raise LabelError(str(r), "no annotation .txt files below this folder")
    return found
