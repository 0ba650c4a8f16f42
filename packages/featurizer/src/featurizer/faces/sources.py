"""Face sources: Aff-Wild2 cropped-aligned folders, or detection, alignment and tracking in the
raw video (the same as ``featurizer faces``).

A source yields ``(row, crop)`` for the label rows that have a face, in row order; rows without
one are filled by the pipeline from the temporally nearest row that has one and marked not present
(the paper's rule).
"""

from __future__ import annotations

import threading
import warnings
from collections import OrderedDict, deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from ..core.annotations import track_side
from ..errors import FaceError
from ..media.timeline import Timeline
from .align import CROP_SIZE
from .detect import FaceDetector, load_detector
from .scan import VideoFaces, aligned_crops, scan_video
from .track import TrackRule, pick_track
from .tracker import DEFAULT_DETECT_EVERY, check_detect_every

Crop = tuple[int, np.ndarray]


class FaceSource(Protocol):
    def crops(self, timeline: Timeline, video: Path) -> Iterator[Crop]:
        """(row index, RGB uint8 112x112 crop) for each label row that has a face, in row order."""

    def describe(self) -> dict[str, str | int]:
        """Where the crops come from, for the provenance of visual features (``faces``)."""


ALIGNMENT = "arcface-112 five-point similarity"  # featurizer.faces.align: the crops every source gives


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

    def describe(self) -> dict[str, str | int]:
        return {"source": "cropped_aligned", "folder": Path(self.root).name,
                "alignment": "as given (Aff-Wild2: 112x112, five-point aligned)"}

    def crops(self, timeline: Timeline, video: Path | None = None) -> Iterator[Crop]:
        """Reads overlap the consumer (the models), with at most ``in_flight`` crops pending."""
        folder = Path(self.root) / timeline.track
        if not folder.is_dir():
            raise FaceError(folder, "no cropped-aligned folder for this track",
                            "check --faces points at cropped_aligned/ (or make one with featurizer faces)")
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


@dataclass
class DetectedFaces:
    """Faces detected, tracked and aligned in the raw video.

    ``detector``: a name (default ``retinaface``, weights loaded once per process) or a detector;
    it runs every ``detect_every`` frames (and where a face is lost), faces are followed by optical
    flow in between (1: detected in every frame). A ``<video>_left``/``_right`` track reads its own
    person; a plain one the only (or the longer-tracked) person. The last videos' tracks are kept,
    so the tracks of one video share one scan. One instance per thread (the service makes one per
    request).
    """

    detector: FaceDetector | str | None = None
    rule: TrackRule = field(default_factory=TrackRule)
    device: str | None = None
    keep: int = 2  # videos whose tracks are kept
    detect_every: int = DEFAULT_DETECT_EVERY

    def __post_init__(self) -> None:
        self.detect_every = check_detect_every(self.detect_every)
        self._scans: OrderedDict[tuple, VideoFaces] = OrderedDict()
        self._lock = threading.Lock()

    def describe(self) -> dict[str, str | int]:
        name = self.detector if isinstance(self.detector, str) else getattr(self.detector, "name", None)
        return {"source": "detected", "detector": name or "retinaface", "detect_every": self.detect_every,
                "alignment": ALIGNMENT}

    def _detector(self) -> FaceDetector:
        if self.detector is None or isinstance(self.detector, str):
            self.detector = load_detector(self.detector or "retinaface", self.device)
        return self.detector

    def scan(self, video: Path) -> VideoFaces:
        """The video's tracks (detected once, then kept while it is among the last ``keep``)."""
        p = Path(video)
        st = p.stat() if p.exists() else None
        key = (str(p.resolve()), st and st.st_size, st and st.st_mtime_ns)
        with self._lock:
            if key in self._scans:
                self._scans.move_to_end(key)
                return self._scans[key]
            faces = scan_video(p, self._detector(), rule=self.rule, detect_every=self.detect_every)
            self._scans[key] = faces
            while len(self._scans) > self.keep:
                self._scans.popitem(last=False)
            return faces

    def crops(self, timeline: Timeline, video: Path) -> Iterator[Crop]:
        faces = self.scan(video)
        track = pick_track(faces.tracks, track_side(timeline.track))
        if track is None:
            return
        present = np.flatnonzero(timeline.frame_present)
        row_of = dict(zip(timeline.video_index[present].tolist(), present.tolist(), strict=True))
        for _, k, crop in aligned_crops(Path(video), faces.timestamps, {"": track}):
            if k in row_of:
                yield row_of[k], crop


def face_source(faces_dir: str | Path | None, detector: FaceDetector | str | None = None,
                detect_every: int = DEFAULT_DETECT_EVERY) -> FaceSource:
    """Crops read from ``faces_dir`` (Aff-Wild2's cropped_aligned layout), or detected in the video
    (every ``detect_every`` frames, followed in between)."""
    if faces_dir:
        return CroppedAlignedFaces(Path(faces_dir))
    return DetectedFaces(detector, detect_every=detect_every)
