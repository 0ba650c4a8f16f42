"""Face sources: Aff-Wild2 cropped-aligned folders, or detection in the raw video.

A source yields ``(row, crop)`` for the label rows that have a face; rows without one are filled
from the temporally nearest row that has one and marked not present (the paper's rule).
"""

from __future__ import annotations

import warnings
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from .core.annotations import track_side
from .errors import FaceError
from .media import iter_frames
from .timeline import Timeline, nearest_index

CROP_SIZE = 112
Crop = tuple[int, np.ndarray]


class FaceSource(Protocol):
    def crops(self, timeline: Timeline, video: Path) -> Iterator[Crop]:
        """(row index, RGB uint8 crop) for each label row that has a face, in row order."""


def _read_rgb(path: Path) -> np.ndarray | None:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        return None
    if img.shape[:2] != (CROP_SIZE, CROP_SIZE):
        img = cv2.resize(img, (CROP_SIZE, CROP_SIZE), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


@dataclass
class CroppedAlignedFaces:
    """``root/<track>/00001.jpg``: row i reads ``f"{i + 1:05d}.jpg"``; read on a thread pool."""

    root: Path
    threads: int = 4
    in_flight: int = 512  # crops read ahead of the consumer (bounded memory)

    def crops(self, timeline: Timeline, video: Path | None = None) -> Iterator[Crop]:
        """Reads overlap the consumer (the models), with at most ``in_flight`` crops pending."""
        folder = Path(self.root) / timeline.track
        if not folder.is_dir():
            raise FaceError(folder, "no cropped-aligned folder for this track",
                            "check --faces points at cropped_aligned/")
        names = {p.name for p in folder.iterdir()}
        rows = iter([i for i in range(timeline.n) if f"{i + 1:05d}.jpg" in names])
        bad: list[str] = []
        with ThreadPoolExecutor(self.threads) as pool:
            pending: deque[tuple[int, Future]] = deque()

            def submit() -> None:
                i = next(rows, None)
                if i is not None:
                    pending.append((i, pool.submit(_read_rgb, folder / f"{i + 1:05d}.jpg")))

            for _ in range(self.in_flight):
                submit()
            while pending:
                i, fut = pending.popleft()
                submit()
                img = fut.result()
                if img is None:
                    bad.append(f"{i + 1:05d}.jpg")
                else:
                    yield i, img
        if bad:
            warnings.warn(f"{folder}: {len(bad)} unreadable crop(s) filled from the nearest "
                          f"frame (first: {bad[0]})", stacklevel=2)


class FaceDetector(Protocol):
    def detect(self, rgb: np.ndarray) -> np.ndarray:
        """(k, 4) boxes x, y, w, h in pixels of ``rgb``."""


@dataclass
class CascadeDetector:
    """OpenCV's bundled Haar frontal-face cascade, run on a downscaled grey frame."""

    max_side: int = 320
    min_neighbors: int = 5

    def __post_init__(self) -> None:
        path = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
        self._cascade = cv2.CascadeClassifier(str(path))
        if self._cascade.empty():
            raise FaceError(path, "OpenCV face cascade missing", "install opencv-python-headless<5")

    def detect(self, rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        if scale < 1:
            grey = cv2.resize(grey, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        boxes = self._cascade.detectMultiScale(grey, 1.1, self.min_neighbors, minSize=(20, 20))
        if len(boxes) == 0:
            return np.zeros((0, 4))
        return np.asarray(boxes, np.float64) / scale


def choose_face(boxes: np.ndarray, side: str | None) -> np.ndarray | None:
    """The largest face, or for ``_left``/``_right`` tracks the left/right of the two largest."""
    if len(boxes) == 0:
        return None
    order = np.argsort(-(boxes[:, 2] * boxes[:, 3]))
    if side is None or len(boxes) == 1:
        return boxes[order[0]]
    two = boxes[order[:2]]
    centres = two[:, 0] + two[:, 2] / 2
    return two[np.argmin(centres)] if side == "left" else two[np.argmax(centres)]


def square_crop(rgb: np.ndarray, box: np.ndarray, margin: float, size: int = CROP_SIZE) -> np.ndarray:
    """Square crop around ``box`` enlarged by ``margin``, edge-replicated past the frame, resized."""
    x, y, w, h = box
    cx, cy, side = x + w / 2, y + h / 2, max(w, h) * (1 + 2 * margin)
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    s = max(int(round(side)), 1)
    H, W = rgb.shape[:2]
    pad = max(0, -x0, -y0, x0 + s - W, y0 + s - H)
    src = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_REPLICATE) if pad else rgb
    crop = src[y0 + pad : y0 + pad + s, x0 + pad : x0 + pad + s]
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)


@dataclass
class DetectedFaces:
    """Faces found in the raw video: one box per frame, smoothed over time (exponential), cropped."""

    detector: FaceDetector | None = None
    margin: float = 0.2
    smoothing: float = 0.6  # weight of the previous box; 0 = no smoothing
    max_gap: int = 5  # frames without a face after which smoothing restarts

    def crops(self, timeline: Timeline, video: Path) -> Iterator[Crop]:
        det = self.detector or CascadeDetector()
        self.detector = det
        side = track_side(timeline.track)
        video_ts = np.asarray(timeline.timestamps)[timeline.frame_present]
        rows_of_frame = np.flatnonzero(timeline.frame_present)
        state: np.ndarray | None = None
        since = 0
        for t, rgb in iter_frames(video):
            k = int(nearest_index(video_ts, np.array([t]))[0]) if len(video_ts) else -1
            if k < 0 or abs(video_ts[k] - t) > 1e-3:
                continue
            box = choose_face(det.detect(rgb), side)
            if box is None:
                since += 1
                continue
            state = box if state is None or since > self.max_gap else (
                self.smoothing * state + (1 - self.smoothing) * box)
            since = 0
            yield int(rows_of_frame[k]), square_crop(rgb, state, self.margin)


def face_source(faces_dir: str | Path | None, detector: FaceDetector | None = None) -> FaceSource:
    return CroppedAlignedFaces(Path(faces_dir)) if faces_dir else DetectedFaces(detector)
