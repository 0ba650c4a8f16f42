"""One video's faces: frames decoded on a background thread and detected in batches, or followed
by the :class:`~featurizer.faces.tracker.FaceTracker` (``detect_every`` > 1), then named (pass 1);
aligned crops cut from a second decode (pass 2), so no frame is held in memory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.ahead import Ahead
from ..media.decode import VideoInfo, iter_frames, probe_video
from ..media.timeline import nearest_index
from .align import CROP_SIZE, align_face
from .detect import Detections, FaceDetector
from .track import FaceTrack, Tracklet, TrackRule, track_faces
from .tracker import FaceTracker, TrackedFace, as_detections

FRAME_MATCH_S = 1e-3  # a decoded frame belongs to the probed frame within this many seconds


@dataclass(frozen=True)
class VideoFaces:
    """Who is where in one video: tracks keyed ``""`` (one person) or ``left``/``right``."""

    video: Path
    timestamps: np.ndarray  # (n,) the probed frames; track frame indices point here
    detector: str
    tracks: dict[str, FaceTrack]
    frames_with_face: int  # frames where any face was found (detected or followed)
    detect_every: int = 1  # the detector ran every this many frames (and where a face was lost)
    detector_runs: int | None = None  # frames the detector ran on

    @property
    def n_frames(self) -> int:
        return len(self.timestamps)


def indexed_frames(video: Path, timestamps: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """(index into ``timestamps``, RGB frame) for each decoded frame that matches a probed one."""
    for t, rgb in iter_frames(video):
        k = int(nearest_index(timestamps, np.array([t]))[0])
        if abs(timestamps[k] - t) <= FRAME_MATCH_S:
            yield k, rgb


def _batches(frames: Iterator[tuple[int, np.ndarray]], size: int) -> Iterator[tuple[list[int], list[np.ndarray]]]:
    """Batches of up to ``size`` frames of one shape."""
    idx: list[int] = []
    batch: list[np.ndarray] = []
    for k, rgb in frames:
        if batch and (len(batch) >= size or rgb.shape != batch[0].shape):
            yield idx, batch
            idx, batch = [], []
        idx.append(k)
        batch.append(rgb)
    if batch:
        yield idx, batch


def scan_video(video: Path, detector: FaceDetector, info: VideoInfo | None = None,
               rule: TrackRule = TrackRule(), on_frames: Callable[[int], None] | None = None,
               detect_every: int = 1) -> VideoFaces:
    """Find and track the faces of ``video`` (``on_frames(n)``: progress): detected in every frame
    (``detect_every=1``), or every ``detect_every`` frames and followed in between."""
    info = info or probe_video(video)
    if detect_every > 1:
        return _followed(video, detector, info, rule, on_frames, detect_every)
    detections = [Detections.empty()] * info.n_frames
    with Ahead(lambda: _batches(indexed_frames(video, info.timestamps), detector.batch_size),
               depth=2, name="faces-decode") as batches:
        for idx, frames in batches:
            for k, det in zip(idx, detector.detect(frames), strict=True):
                detections[k] = det
            if on_frames is not None:
                on_frames(len(idx))
    return VideoFaces(Path(video), info.timestamps, detector.name, track_faces(detections, rule),
                      sum(len(d) > 0 for d in detections), 1, info.n_frames)


def _followed(video: Path, detector: FaceDetector, info: VideoInfo, rule: TrackRule,
              on_frames: Callable[[int], None] | None, detect_every: int, report: int = 8) -> VideoFaces:
    """The tracker over the video's frames, with its settled landmarks; its identities are the
    tracklets that get named."""
    tracker = FaceTracker(detector, detect_every, rule)
    faces: dict[int, list[TrackedFace]] = {}  # video frame -> its faces
    frame_of: list[int] = []  # the tracker's frame index -> video frame

    def settle(settled: list[tuple[int, TrackedFace]]) -> None:
        for i, face in settled:
            at = faces[frame_of[i]]
            at[next(j for j, x in enumerate(at) if x.track == face.track)] = face

    with Ahead(lambda: indexed_frames(video, info.timestamps), depth=8, name="faces-decode") as frames:
        for k, rgb in frames:
            found = tracker.step(rgb, crops=False)
            frame_of.append(k)
            faces[k] = found.faces
            settle(found.settled)
            if on_frames is not None and len(frame_of) % report == 0:
                on_frames(report)
    settle(tracker.finish())
    if on_frames is not None and len(frame_of) % report:
        on_frames(len(frame_of) % report)
    detections = [Detections.empty()] * info.n_frames
    tracklets: dict[int, Tracklet] = {}
    for k in sorted(faces):
        detections[k] = as_detections(faces[k])
        for j, face in enumerate(faces[k]):
            tracklets.setdefault(face.track, Tracklet()).add(k, j, face.box)
    return VideoFaces(Path(video), info.timestamps, detector.name,
                      track_faces(detections, rule, list(tracklets.values())),
                      sum(len(d) > 0 for d in detections), detect_every, tracker.detector_runs)


def aligned_crops(video: Path, timestamps: np.ndarray, tracks: dict[str, FaceTrack],
                  size: int = CROP_SIZE) -> Iterator[tuple[str, int, np.ndarray]]:
    """(track key, frame index, aligned RGB crop) in frame order, for every frame of every track."""
    wanted: dict[int, list[tuple[str, int]]] = {}
    for key, track in tracks.items():
        for i, f in enumerate(track.frames):
            wanted.setdefault(int(f), []).append((key, i))
    if not wanted:
        return
    last = max(wanted)
    for k, rgb in indexed_frames(video, timestamps):
        for key, i in wanted.get(k, ()):
            yield key, k, align_face(rgb, tracks[key].landmarks[i], size)
        if k >= last:
            return
