"""Identity tracks: detections linked across frames, then named by position as in Aff-Wild2.

1. Linking: each frame's faces are matched to the live tracks (Hungarian assignment on
   ``1 - IoU + centre shift / face size``); a match needs overlap or a shift under ``max_shift``
   face sizes and a size change under 2x. A track not matched for more than ``max_gap`` frames
   ends, so short misses (blinks of the detector, a hand in front of the face) are bridged.
2. Tracks shorter than ``min_frames`` or smaller than ``min_rel_size`` of the largest face are
   dropped (spurious or background faces).
3. People: two when two kept tracks are on screen together in at least ``min_shared`` of the
   frames with a face (and ``min_frames``), else one. With two, in each shared frame the leftmost
   face votes its track ``left`` and the rightmost ``right``; a track never on screen with another
   joins the side whose mean position is nearer. With one, all kept tracks are that person.
4. Where one person has two candidate faces in a frame, the longer track wins, then the higher score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..errors import FaceError
from .detect import Detections

SIDES = ("left", "right")


@dataclass(frozen=True)
class TrackRule:
    max_gap: int = 10
    max_shift: float = 0.7
    min_frames: int = 5
    min_rel_size: float = 0.4
    min_shared: float = 0.05

    def __post_init__(self) -> None:
        if self.max_gap < 0:
            raise FaceError(f"--max-gap {self.max_gap}", "a gap is a number of frames, 0 or more",
                            "e.g. --max-gap 10")


@dataclass(frozen=True)
class FaceTrack:
    """One person's face in the frames where it was found (video frame indices, increasing)."""

    frames: np.ndarray  # (m,) int
    boxes: np.ndarray  # (m, 4) x1, y1, x2, y2
    scores: np.ndarray  # (m,)
    landmarks: np.ndarray  # (m, 5, 2)

    def __len__(self) -> int:
        return len(self.frames)


@dataclass(eq=False)
class Tracklet:
    """One face's detections linked over frames: ``picks[i]`` indexes frame ``frames[i]``'s detections."""

    frames: list[int] = field(default_factory=list)
    picks: list[int] = field(default_factory=list)  # detection index in each frame
    last: np.ndarray | None = None  # last box

    def add(self, frame: int, j: int, box: np.ndarray) -> None:
        self.frames.append(frame)
        self.picks.append(j)
        self.last = box


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) intersection over union of x1, y1, x2, y2 boxes."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area = lambda x: np.prod(np.clip(x[:, 2:] - x[:, :2], 0, None), axis=1)  # noqa: E731
    return inter / np.maximum(area(a)[:, None] + area(b)[None] - inter, 1e-9)


def _sizes(boxes: np.ndarray) -> np.ndarray:
    return np.sqrt(np.prod(np.clip(boxes[..., 2:] - boxes[..., :2], 1e-6, None), axis=-1))


def _centres(boxes: np.ndarray) -> np.ndarray:
    return (boxes[..., :2] + boxes[..., 2:]) / 2


def associate(last: np.ndarray, boxes: np.ndarray, rule: TrackRule) -> list[tuple[int, int]]:
    """(track, box) pairs matching the tracks' ``last`` boxes to this frame's ``boxes``
    (Hungarian on ``1 - IoU + shift``; a pair needs overlap or a small shift and a size change under 2x)."""
    if not len(last) or not len(boxes):
        return []
    iou = _iou(last, boxes)
    shift = np.linalg.norm(_centres(last)[:, None] - _centres(boxes)[None], axis=2) / _sizes(last)[:, None]
    ratio = _sizes(boxes)[None] / _sizes(last)[:, None]
    ok = ((iou > 0.1) | (shift < rule.max_shift)) & (ratio > 0.5) & (ratio < 2)
    cost = np.where(ok, 1 - iou + shift, 1e6)
    return [(int(r), int(c)) for r, c in zip(*linear_sum_assignment(cost), strict=True) if ok[r, c]]


def link(detections: Sequence[Detections], rule: TrackRule = TrackRule()) -> list[Tracklet]:
    """Tracklets over the frames (index = video frame), gaps of up to ``max_gap`` bridged."""
    done: list[Tracklet] = []
    live: list[Tracklet] = []
    for f, det in enumerate(detections):
        ended = [t for t in live if f - t.frames[-1] - 1 > rule.max_gap]
        done += ended
        live = [t for t in live if t not in ended]
        if not len(det):
            continue
        taken: set[int] = set()
        if live:
            for r, c in associate(np.stack([t.last for t in live]), det.boxes, rule):
                live[r].add(f, c, det.boxes[c])
                taken.add(c)
        for j in range(len(det)):
            if j not in taken:
                t = Tracklet()
                t.add(f, j, det.boxes[j])
                live.append(t)
    return done + live


def _gather(detections: Sequence[Detections], members: list[Tracklet]) -> FaceTrack:
    """One track from tracklets; a frame claimed twice goes to the longer tracklet, then score."""
    best: dict[int, tuple[tuple[int, float], int]] = {}
    for t in members:
        for f, j in zip(t.frames, t.picks, strict=True):
            key = (len(t.frames), float(detections[f].scores[j]))
            if f not in best or key > best[f][0]:
                best[f] = (key, j)
    frames = np.array(sorted(best), np.int64)
    picks = [(int(f), best[f][1]) for f in frames]
    return FaceTrack(frames,
                     np.array([detections[f].boxes[j] for f, j in picks], np.float32).reshape(-1, 4),
                     np.array([detections[f].scores[j] for f, j in picks], np.float32),
                     np.array([detections[f].landmarks[j] for f, j in picks], np.float32).reshape(-1, 5, 2))


def _tracklet_boxes(detections: Sequence[Detections], t: Tracklet) -> np.ndarray:
    return np.stack([detections[f].boxes[j] for f, j in zip(t.frames, t.picks, strict=True)])


def track_faces(detections: Sequence[Detections], rule: TrackRule = TrackRule(),
                tracklets: Sequence[Tracklet] | None = None) -> dict[str, FaceTrack]:
    """``{"": track}`` for one person, ``{"left": ..., "right": ...}`` for two, ``{}`` for none.

    ``tracklets``: the detections already linked (by :class:`~featurizer.faces.tracker.FaceTracker`),
    else they are linked here (:func:`link`)."""
    linked = link(detections, rule) if tracklets is None else tracklets
    tracklets = [t for t in linked if len(t.frames) >= rule.min_frames]
    if not tracklets:
        return {}
    size = np.array([np.median(_sizes(_tracklet_boxes(detections, t))) for t in tracklets])
    tracklets = [t for t, s in zip(tracklets, size, strict=True) if s >= rule.min_rel_size * size.max()]
    by_frame: dict[int, list[tuple[int, int]]] = {}  # frame -> (tracklet, detection)
    for i, t in enumerate(tracklets):
        for f, j in zip(t.frames, t.picks, strict=True):
            by_frame.setdefault(f, []).append((i, j))
    shared = [f for f, ids in by_frame.items() if len(ids) >= 2]
    if len(shared) < max(rule.min_frames, rule.min_shared * len(by_frame)):
        return {"": _gather(detections, tracklets)}
    mean_x = np.array([_centres(_tracklet_boxes(detections, t))[:, 0].mean() for t in tracklets])
    votes = np.zeros((len(tracklets), 2))
    for f in shared:
        ids = [i for i, _ in by_frame[f]]
        xs = _centres(detections[f].boxes[[j for _, j in by_frame[f]]])[:, 0]
        votes[ids[int(np.argmin(xs))], 0] += 1
        votes[ids[int(np.argmax(xs))], 1] += 1
    side = np.where(votes.sum(1) > 0, np.argmax(votes, 1), -1)
    anchors = [np.average(mean_x[side == s], weights=votes[side == s, s]) for s in (0, 1)]
    for i in np.flatnonzero(side < 0):
        side[i] = int(abs(mean_x[i] - anchors[1]) < abs(mean_x[i] - anchors[0]))
    return {name: _gather(detections, [t for t, s in zip(tracklets, side, strict=True) if s == k])
            for k, name in enumerate(SIDES)}


def track_names(video_stem: str, tracks: dict[str, FaceTrack]) -> dict[str, FaceTrack]:
    """Aff-Wild2 track ids: the video's name for one person, ``<name>_left``/``_right`` for two."""
    return {f"{video_stem}_{k}" if k else video_stem: t for k, t in tracks.items()}


def pick_track(tracks: dict[str, FaceTrack], side: str | None) -> FaceTrack | None:
    """The track a ``_left``/``_right`` (or plain) track id reads: its side when there are two
    people; the only person when there is one; for a plain id among two, the longer track."""
    if not tracks:
        return None
    if side in tracks:
        return tracks[side]
    return max(tracks.values(), key=len)
