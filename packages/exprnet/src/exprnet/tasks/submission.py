"""ABAW submission files of VA and AU, one line per frame as EXPR's ``submission.txt``.

    submission_va.txt   image_location,valence,arousal / <track>/00001.jpg,<v>,<a>
    submission_au.txt   image_location,AU1,...,AU26    / <track>/00001.jpg,0,1,...

``image_location`` is EXPR's (:func:`exprnet.prediction.predict.write_submission`): the track, then
frame ``i`` (1-based) as ``{i:05d}.jpg``. VA values are written as float32 with 9 significant
digits, so reading a file back gives the float32 arrays written, and the same scores.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
from featurizer.core.files import atomic_write_text

from ..errors import DataError
from .names import AU_NAMES, N_AU, N_VA, VA_NAMES

VA_FILE, AU_FILE = "submission_va.txt", "submission_au.txt"
VA_SUBMISSION_HEADER = "image_location," + ",".join(VA_NAMES)
AU_SUBMISSION_HEADER = "image_location," + ",".join(AU_NAMES)


def image_location(track: str, frame: int) -> str:
    """The frame's ``image_location`` (``frame`` 1-based), as in EXPR's submission."""
    return f"{track}/{frame:05d}.jpg"


def _lines(header: str, items: Iterable[tuple[str, np.ndarray]], width: int, fmt, check, what: str) -> list[str]:
    lines = [header]
    for track, values in items:
        v = np.asarray(values)
        if v.ndim != 2 or v.shape[1] != width:
            raise DataError(f"{what} of {track}", f"have shape {v.shape}, expected (frames, {width})")
        check(track, v)
        lines.extend(f"{image_location(track, i)},{fmt(row)}" for i, row in enumerate(v, start=1))
    return lines


def _va_check(track: str, v: np.ndarray) -> None:
    if not np.isfinite(v).all():
        raise DataError(f"VA predictions of {track}", "hold NaN or inf", "predict every frame")


def _au_check(track: str, v: np.ndarray) -> None:
    if not np.isin(v, (0, 1)).all():
        raise DataError(f"AU predictions of {track}", "hold values other than 0/1", "threshold the probabilities")


def write_va_submission(path: str | Path, items: Iterable[tuple[str, np.ndarray]]) -> int:
    """``items``: (track, (n, 2) valence/arousal). Returns the number of frame lines."""
    lines = _lines(VA_SUBMISSION_HEADER, items, N_VA,
                   lambda r: ",".join(f"{x:.9g}" for x in r.astype(np.float32).tolist()), _va_check, "VA predictions")
    atomic_write_text(path, "\n".join(lines) + "\n")
    return len(lines) - 1


def write_au_submission(path: str | Path, items: Iterable[tuple[str, np.ndarray]]) -> int:
    """``items``: (track, (n, 12) 0/1). Returns the number of frame lines."""
    lines = _lines(AU_SUBMISSION_HEADER, items, N_AU, lambda r: ",".join(str(int(x)) for x in r), _au_check,
                   "AU predictions")
    atomic_write_text(path, "\n".join(lines) + "\n")
    return len(lines) - 1


def _read(path: str | Path, header: str, width: int, dtype: type) -> dict[str, np.ndarray]:
    lines = Path(path).read_text().splitlines()
    if not lines or lines[0].strip() != header:
        raise DataError(str(path), "line 1 is not the submission header", f"expected {header}")
    out: dict[str, list[list[str]]] = {}
    for k, line in enumerate(lines[1:], start=2):
        loc, *vals = line.strip().split(",")
        track, _, frame = loc.rpartition("/")
        got = out.setdefault(track, [])
        if frame != f"{len(got) + 1:05d}.jpg":
            raise DataError(str(path), f"line {k}: expected frame {len(got) + 1:05d}.jpg of {track}, got {frame}")
        if len(vals) != width:
            raise DataError(str(path), f"line {k}: {len(vals)} values, expected {width}")
        got.append(vals)
    try:
        return {t: np.array(v, dtype=np.float64).astype(dtype) for t, v in out.items()}
    except ValueError as e:
        raise DataError(str(path), f"holds a value that is not a number ({e})") from None


def read_va_submission(path: str | Path) -> dict[str, np.ndarray]:
    """Inverse of :func:`write_va_submission`: track -> (n, 2) float32."""
    return _read(path, VA_SUBMISSION_HEADER, N_VA, np.float32)


def read_au_submission(path: str | Path) -> dict[str, np.ndarray]:
    """Inverse of :func:`write_au_submission`: track -> (n, 12) int8."""
    out = _read(path, AU_SUBMISSION_HEADER, N_AU, np.float64)
    for t, v in out.items():
        if not np.isin(v, (0, 1)).all():
            raise DataError(str(path), f"track {t} holds AU values other than 0/1")
    return {t: v.astype(np.int8) for t, v in out.items()}
