"""Faces followed frame by frame: the detector runs every ``detect_every`` frames, and whenever a
face is lost; in between, each face's five landmarks are carried by optical flow
(:mod:`~featurizer.faces.flow`), so its identity is kept without a detection.

Feed frames one at a time, as they arrive (a file, a camera, a socket)::

    tracker = FaceTracker(load_detector(), detect_every=10)
    for t, rgb in frames:
        found = tracker.step(rgb, t)
        for face in found.faces:
            face.track, face.crop  # identity, aligned 112x112 crop (at once: causal)
        for index, face in found.settled:
            ...  # an earlier frame's face, its flow's drift removed (up to detect_every frames late)

On a frame the detector runs on, its faces are linked to the tracks exactly as
:func:`~featurizer.faces.track.link` links per-frame detections (so ``detect_every=1`` gives
link's tracklets); a face the detector does not find there is lost, and the detector then runs on
every frame until the face is found again or ``max_gap`` frames have passed (its track ends).
A new face is found at the next scheduled detection. Faces that touch (one passing in front of
another, where the flow of one would follow the other) are detected in every frame until they part.

Flow drifts a little from frame to frame. When the detector finds a followed face again, the
difference between its landmarks and where the flow had carried them is that drift; it is removed
from the frames followed since the face's previous detection in proportion to their distance from
it (``settled``). Offline scans (``scan_video``) use the settled landmarks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import cv2
import numpy as np

from ..errors import FaceError
from .align import CROP_SIZE, align_face
from .detect import Detections, FaceDetector
from .flow import propagate
from .track import TrackRule, _iou, associate

DEFAULT_DETECT_EVERY = 10  # chosen by bench/faces.py (docs/faces.md)
TOUCH_MARGIN = 0.1  # faces whose boxes grown by this fraction overlap are detected, not flowed


def check_detect_every(value: object, flag: str = "--detect-every") -> int:
    """``value`` as a whole number of frames, 1 or more, else a one-line :class:`FaceError`
    naming ``flag`` (an option, ``--detect-every``, or a parameter, ``detect_every``)."""
    text = str(value).strip()

    def given(v: object) -> str:
        return f"{flag} {v}" if flag.startswith("-") else f"{flag}={v}"

    hint = f"e.g. {given(DEFAULT_DETECT_EVERY)}, or {given(1)} to detect every frame"
    whole = isinstance(value, (int, np.integer)) or re.fullmatch(r"[+-]?\d+", text) is not None
    if isinstance(value, bool) or not whole:
        raise FaceError(given(text), "is not a whole number of frames", hint)
    n = int(text)
    if n < 1:
        raise FaceError(given(n), "the detector runs every N frames, N 1 or more", hint)
    return n


@dataclass
class TrackedFace:
    """One face in one frame (video pixels)."""

    track: int  # identity: the same number while the face is followed (gaps up to max_gap bridged)
    box: np.ndarray  # (4,) x1, y1, x2, y2
    score: float  # the detector's score when it last found this face
    landmarks: np.ndarray  # (5, 2) left eye, right eye, nose, left / right mouth corner
    detected: bool  # True: found by the detector in this frame; False: carried by optical flow
    crop: np.ndarray | None = None  # the aligned crop (``step(..., crops=True)``)


@dataclass
class FrameFaces:
    """The faces of one frame fed to :meth:`FaceTracker.step`, and the settled landmarks of the
    faces followed in earlier frames since their last detection (``settled``: frame index, face
    with its drift removed, no crop), given when the detector finds them again."""

    index: int  # 0-based count of frames fed
    timestamp: float | None
    detected: bool  # the detector ran on this frame
    faces: list[TrackedFace] = field(default_factory=list)
    settled: list[tuple[int, TrackedFace]] = field(default_factory=list)

    def detections(self) -> Detections:
        """The faces as :class:`Detections` (in ``faces`` order)."""
        return as_detections(self.faces)


def as_detections(faces: list[TrackedFace]) -> Detections:
    if not faces:
        return Detections.empty()
    return Detections(np.stack([f.box for f in faces]).astype(np.float32),
                      np.array([f.score for f in faces], np.float32),
                      np.stack([f.landmarks for f in faces]).astype(np.float32))


@dataclass(eq=False)
class _Track:
    id: int
    box: np.ndarray
    score: float
    landmarks: np.ndarray
    last: int  # the last frame it was seen in
    anchor: int  # ... and detected in
    flowed: list[TrackedFace] = field(default_factory=list)  # the frames since, carried by flow
    frames: list[int] = field(default_factory=list)  # ... their indices


class FaceTracker:
    """Detect every ``detect_every`` frames or when a face is lost, follow faces by optical flow
    in between. One tracker per stream (it holds the previous frame); not for several threads."""

    def __init__(self, detector: FaceDetector, detect_every: int = DEFAULT_DETECT_EVERY,
                 rule: TrackRule = TrackRule(), crop_size: int = CROP_SIZE):
        self.detector, self.detect_every = detector, check_detect_every(detect_every)
        self.rule, self.crop_size = rule, crop_size
        self.detector_runs = 0  # frames the detector ran on
        self._next_id = 0
        self.reset()

    def reset(self) -> None:
        """Forget every track and the previous frame (a new stream); identities continue from
        the last one given, so they stay unique."""
        self._live: list[_Track] = []
        self._index, self._last_detect = 0, -self.detect_every
        self._grey: np.ndarray | None = None
        self._rgb: np.ndarray | None = None  # the previous frame (to settle a face lost after it)
        self._time: float | None = None

    def step(self, rgb: np.ndarray, timestamp: float | None = None, crops: bool = True) -> FrameFaces:
        """The faces of the next frame (RGB uint8); ``timestamp`` (seconds) must increase;
        ``crops``: cut each face's aligned crop too. The frame is kept until the next call (a face
        lost there is settled by a detection in it): give each call its own array."""
        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise FaceError(f"frame {self._index}", f"is not an RGB uint8 image (shape {rgb.shape}, "
                            f"{rgb.dtype})", "give frames as (height, width, 3) uint8 arrays")
        if timestamp is not None:
            if self._time is not None and not timestamp > self._time:
                raise FaceError(f"frame at {timestamp:g} s", f"comes after the frame at {self._time:g} s",
                                "feed frames in presentation order, each with a later timestamp")
            self._time = float(timestamp)
        f, self._index = self._index, self._index + 1
        self._live = [t for t in self._live if f - t.last - 1 <= self.rule.max_gap]
        same_size = self._grey is not None and self._grey.shape == rgb.shape[:2]
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if self._live else None
        detect = f - self._last_detect >= self.detect_every or any(t.last != f - 1 for t in self._live) \
            or bool(self._live) and not same_size
        flowed: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(self._live)
        if same_size and (not detect or any(t.flowed for t in self._live)):
            flowed = [propagate(self._grey, grey, t.landmarks, t.box) if t.last == f - 1 else None
                      for t in self._live]
            detect = detect or any(m is None for m in flowed) or _touching([t.box for t in self._live]) \
                or _touching([m[1] for m in flowed if m is not None])
        settled: list[tuple[int, TrackedFace]] = []
        if detect:
            faces = self._detect(f, rgb, flowed, settled)
        else:
            faces = []
            for t, (lm, box) in zip(self._live, flowed, strict=True):
                t.landmarks, t.box, t.last = lm, box, f
                faces.append(TrackedFace(t.id, box, t.score, lm, False))
                t.flowed.append(faces[-1])
                t.frames.append(f)
        if self._live and grey is None:
            grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        self._grey, self._rgb = (grey, rgb) if self._live else (None, None)
        if crops:
            for face in faces:
                face.crop = align_face(rgb, face.landmarks, self.crop_size)
        return FrameFaces(f, timestamp, detect, faces, settled)

    def _detect(self, f: int, rgb: np.ndarray, flowed: list, settled: list) -> list[TrackedFace]:
        """Detect in frame ``f`` and link, as :func:`~featurizer.faces.track.link` does; a face
        found again whose flow reached this frame settles its flowed frames (``settled``)."""
        (det,) = self.detector.detect([rgb])
        self.detector_runs += 1
        self._last_detect = f
        found: dict[int, _Track] = {}
        flow_of = {id(t): m for t, m in zip(self._live, flowed, strict=True)}
        done: set[int] = set()
        if len(det) and self._live:
            for r, c in associate(np.stack([t.box for t in self._live]), det.boxes, self.rule):
                found[c] = self._live[r]
        for j in range(len(det)):
            t = found.get(j)
            if t is None:
                t = found[j] = _Track(self._next_id, det.boxes[j], 0.0, det.landmarks[j], f, f)
                self._next_id += 1
                self._live.append(t)
            elif flow_of.get(id(t)) is not None and t.flowed:
                settled += _settle(t, det.landmarks[j] - flow_of[id(t)][0], f)
                done.add(id(t))
            t.box, t.score, t.landmarks, t.last, t.anchor = det.boxes[j], float(det.scores[j]), det.landmarks[j], f, f
        lost = [t for t in self._live if t.flowed and t.frames[-1] == f - 1 and id(t) not in done]
        if lost and self._rgb is not None:  # lost here (or its flow): settled by a detection in the frame before
            settled += self._settle_in(f - 1, self._rgb, lost)
        for t in self._live:
            t.flowed, t.frames = [], []
        return [TrackedFace(found[j].id, det.boxes[j], float(det.scores[j]), det.landmarks[j], True)
                for j in range(len(det))]


    def finish(self) -> list[tuple[int, TrackedFace]]:
        """At the end of a stream: the faces followed since their last detection, settled by a
        detection in the last frame fed (one detector run, where any face is being followed)."""
        f = self._index - 1
        todo = [t for t in self._live if t.flowed and t.frames[-1] == f]
        out = self._settle_in(f, self._rgb, todo) if todo and self._rgb is not None else []
        for t in todo:
            t.flowed, t.frames = [], []
        return out

    def _settle_in(self, f: int, rgb: np.ndarray, tracks: list[_Track]) -> list[tuple[int, TrackedFace]]:
        """Detect in frame ``f``, the last one ``tracks`` were followed to: each found there is settled."""
        (det,) = self.detector.detect([rgb])
        self.detector_runs += 1
        out: list[tuple[int, TrackedFace]] = []
        for r, c in associate(np.stack([t.flowed[-1].box for t in tracks]), det.boxes, self.rule):
            out += _settle(tracks[r], det.landmarks[c] - tracks[r].flowed[-1].landmarks, f)
        return out


def _settle(t: _Track, drift: np.ndarray, f: int) -> list[tuple[int, TrackedFace]]:
    """The track's flowed frames with ``drift`` (detected minus flowed landmarks in frame ``f``)
    removed in proportion to their distance from its last detection."""
    out = []
    for k, face in zip(t.frames, t.flowed, strict=True):
        d = drift * (k - t.anchor) / (f - t.anchor)
        shift = np.tile(d.mean(0), 2)
        out.append((k, TrackedFace(t.id, (face.box + shift).astype(np.float32), face.score,
                                   (face.landmarks + d).astype(np.float32), False)))
    return out


def _touching(boxes: list[np.ndarray]) -> bool:
    """Two of the boxes, each grown by ``TOUCH_MARGIN`` of its size, overlap."""
    if len(boxes) < 2:
        return False
    b = np.stack(boxes).astype(np.float64)
    grow = (TOUCH_MARGIN * np.sqrt(np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)))[:, None]
    b = np.concatenate([b[:, :2] - grow, b[:, 2:] + grow], axis=1)
    iou = _iou(b, b)
    np.fill_diagonal(iou, 0)
    return bool((iou > 0).any())
