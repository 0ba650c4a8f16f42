"""Aff-Wild2 annotation files, all three tasks: the one reader both packages use.

One ``<track>.txt`` per annotated face track, searched recursively below a task's folder
(``EXPR_Set``, ``VA_Set``, ``AU_Set``, usually with ``Train_Set/`` and ``Validation_Set/``
sub-folders). Line 1 is the header, and says the task: ``valence,arousal``
(:data:`~featurizer.core.classes.VA_HEADER`), ``AU1,...,AU26``
(:data:`~featurizer.core.classes.AU_HEADER`), or the expression classes. Each next line is one
frame: an expression label 0-7 (-1 unannotated); two floats in [-1, 1] (``-5,-5`` unannotated,
NaN in the array); or twelve 0/1 (a row of -1 unannotated). Line i (1-based, header excluded) is
frame ``f"{i:05d}.jpg"``, i.e. store row ``i - 1``. Trailing blank lines are ignored; a blank line
inside the file is an error (skipping it would shift every later frame).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .classes import AU_HEADER, AU_NAMES, HEADER, N_CLASSES, VA_HEADER, VA_NAMES, VA_UNLABELLED
from .errors import LabelError

SPLITS = ("Train_Set", "Validation_Set")
_SIDE = re.compile(r"^(?P<video>.+)_(?P<side>left|right)$")


@dataclass(frozen=True)
class AnnotationFile:
    track: str
    path: Path
    split: str | None  # the split folder (Train_Set, Validation_Set, ...) it sits under, if any


@dataclass(frozen=True)
class TaskLabels:
    """One track's labels for one task: expr (n,) int8; va (n, 2) float32, NaN rows unannotated;
    au (n, 12) int8, -1 rows unannotated."""

    task: str
    values: np.ndarray

    def __len__(self) -> int:
        return len(self.values)


def _read_text(path: str | Path) -> str:
    p = Path(path)
    try:
        return p.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise LabelError(p, f"cannot read annotation file ({e.__class__.__name__})") from None


def read_annotation(path: str | Path) -> np.ndarray:
    """One EXPR annotation file -> (n,) int8 labels, -1 = unannotated."""
    return parse_annotation(_read_text(path), Path(path))


def read_labels(path: str | Path) -> TaskLabels:
    """One annotation file of any task -> its :class:`TaskLabels` (the task from its header)."""
    return parse_labels(_read_text(path), Path(path))


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def task_of_header(line: str, path: str | Path) -> str:
    """The task ("expr", "va" or "au") line 1 of an annotation file declares."""
    cells = [c.strip() for c in line.split(",")]
    low = [c.lower() for c in cells]
    if low[0] in ("valence", "arousal"):
        if tuple(low) != VA_NAMES:
            raise LabelError(path, f"line 1: {line.strip()!r} is not the VA header", f"expected {VA_HEADER}")
        return "va"
    if re.fullmatch(r"au\d+", low[0]):
        if tuple(c.upper() for c in cells) != AU_NAMES:
            raise LabelError(path, f"line 1: {line.strip()!r} is not the AU header", f"expected {AU_HEADER}")
        return "au"
    if not cells[0] or _is_number(cells[0]):
        raise LabelError(path, "line 1 is not the class header",
                         f"expected {HEADER} (EXPR), {VA_HEADER} (VA) or {AU_HEADER} (AU)")
    return "expr"


def parse_annotation(text: str, p: str | Path) -> np.ndarray:
    """EXPR annotation text (e.g. an uploaded one) -> labels; ``p`` names it in errors."""
    lab = parse_labels(text, p)
    if lab.task != "expr":
        raise LabelError(p, f"holds {lab.task.upper()} labels, not expressions",
                         f"pass an EXPR file (header {HEADER})")
    return lab.values


def parse_labels(text: str, p: str | Path) -> TaskLabels:
    """Annotation text of any task -> :class:`TaskLabels`; ``p`` names it in errors."""
    lines = text.splitlines()
    if not lines:
        raise LabelError(p, "annotation file is empty", f"line 1 must be the class header {HEADER}")
    task = task_of_header(lines[0], p)
    body = [s.strip() for s in lines[1:]]
    while body and not body[-1]:
        body.pop()  # trailing blank lines
    if not body:
        raise LabelError(p, "annotation file has a header but no frames")
    blank = next((k for k, s in enumerate(body) if not s), None)
    if blank is not None:
        raise LabelError(p, f"line {blank + 2} is blank", "every line after the header is one frame's label")
    return TaskLabels(task, _PARSERS[task](body, p))


def _parse_expr(body: list[str], p: str | Path) -> np.ndarray:
    out = np.empty(len(body), np.int8)
    for k, s in enumerate(body):
        try:
            v = int(s.split(",")[0])
        except ValueError:
            raise LabelError(p, f"line {k + 2}: {s!r} is not a label", "labels are -1..7") from None
        if not -1 <= v < N_CLASSES:
            raise LabelError(p, f"line {k + 2}: label {v} is outside -1..7")
        out[k] = v
    return out


def _cells(body: list[str], p: str | Path, width: int, what: str, dtype: type) -> np.ndarray:
    """Every line split into ``width`` numbers of ``dtype``: (n, width); one error naming the
    first line with another width or a cell that is not such a number."""
    rows = [s.split(",") for s in body]
    for k, r in enumerate(rows):
        if len(r) != width:
            raise LabelError(p, f"line {k + 2}: {len(r)} values, expected {width}", f"each line is {what}")
    try:
        return np.array(rows, dtype=dtype)
    except ValueError:
        for k, r in enumerate(rows):
            for c in r:
                try:
                    dtype(c)
                except ValueError:
                    raise LabelError(p, f"line {k + 2}: {c.strip()!r} is not {'an integer' if dtype is int else 'a number'}", f"each line is {what}") from None
        raise


def _first(bad: np.ndarray) -> int | None:
    idx = np.flatnonzero(bad)
    return int(idx[0]) if len(idx) else None


def _parse_va(body: list[str], p: str | Path) -> np.ndarray:
    what = "valence,arousal in [-1, 1], or -5,-5 for an unannotated frame"
    v = _cells(body, p, 2, what, float)
    unann = (v == VA_UNLABELLED).all(axis=1)
    bad = ~unann & ~(np.isfinite(v) & (np.abs(v) <= 1)).all(axis=1)
    if (k := _first(bad)) is not None:
        raise LabelError(p, f"line {k + 2}: {body[k]!r} is outside [-1, 1]", f"each line is {what}")
    out = v.astype(np.float32)
    out[unann] = np.nan
    return out


def _parse_au(body: list[str], p: str | Path) -> np.ndarray:
    what = "twelve 0/1 values, or a row of -1 for an unannotated frame"
    v = _cells(body, p, len(AU_NAMES), what, int)
    unann = (v == -1).all(axis=1)
    bad = ~unann & ~((v == 0) | (v == 1)).all(axis=1)
    if (k := _first(bad)) is not None:
        raise LabelError(p, f"line {k + 2}: {body[k]!r} is not twelve 0/1 values", f"each line is {what}")
    return v.astype(np.int8)


_PARSERS = {"expr": _parse_expr, "va": _parse_va, "au": _parse_au}


def write_annotation(path: str | Path, labels: np.ndarray | list[int]) -> Path:
    """Write labels (-1..7) as an EXPR annotation file (header, one label per line)."""
    return _write(path, HEADER, (f"{int(v)}" for v in labels))


def write_va_annotation(path: str | Path, values: np.ndarray) -> Path:
    """Write (n, 2) valence/arousal (NaN rows unannotated, written ``-5,-5``) as a VA file."""
    v = np.asarray(values, np.float64).reshape(-1, 2)
    return _write(path, VA_HEADER, ("-5,-5" if np.isnan(r).any() else f"{r[0]:.6g},{r[1]:.6g}" for r in v))


def write_au_annotation(path: str | Path, values: np.ndarray) -> Path:
    """Write (n, 12) 0/1 AUs (rows of -1 unannotated) as an AU file."""
    v = np.asarray(values, np.int64).reshape(-1, len(AU_NAMES))
    return _write(path, AU_HEADER, (",".join(str(int(x)) for x in r) for r in v))


def _write(path: str | Path, header: str, lines) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(header + "\n" + "".join(s + "\n" for s in lines))
    return p


def folder_task(root: str | Path, files: dict[str, AnnotationFile] | None = None) -> str:
    """The task every annotation file below ``root`` declares (one error if two disagree)."""
    files = find_annotations(root) if files is None else files
    first: tuple[str, Path] | None = None
    for a in files.values():
        with open(a.path, errors="replace") as fh:
            task = task_of_header(fh.readline(), a.path)
        if first is None:
            first = (task, a.path)
        elif task != first[0]:
            raise LabelError(a.path, f"holds {task.upper()} labels but {first[1]} holds {first[0].upper()}",
                             "keep one task's annotation files per folder (EXPR_Set, VA_Set, AU_Set)")
    assert first is not None
    return first[0]


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
