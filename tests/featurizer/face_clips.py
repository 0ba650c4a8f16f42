"""Real-face clips for the face tests and bench/faces.py, made from photographs that ship inside
wheels: scikit-image's astronaut (Eileen Collins) and matplotlib's Grace Hopper.

Each frame is the photograph under a known similarity transform (rotation, scale, translation
varying smoothly over time, like a talking head), so the true landmarks of every frame are known.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Five landmarks of each photograph (left eye, right eye, nose, left / right mouth corner; image
# left/right), in its own pixels: RetinaFace and MTCNN agree on them within 2 px (4 px for
# Hopper's nose); the mean, rounded.
LANDMARKS = {
    "astronaut": np.array([[204, 101], [247, 103], [224, 129], [201, 140], [246, 141]], np.float64),
    "hopper": np.array([[222, 191], [306, 187], [268, 243], [234, 279], [303, 275]], np.float64),
}


def photo(name: str) -> np.ndarray:
    """The RGB uint8 photograph."""
    if name == "astronaut":
        from skimage import data

        return np.ascontiguousarray(data.astronaut())
    import matplotlib.cbook as cbook

    bgr = cv2.imread(str(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def similarity(angle_deg: float, scale: float, src_centre, dst_centre) -> np.ndarray:
    """(2, 3) matrix rotating by ``angle_deg`` (counter-clockwise on screen) and scaling about
    ``src_centre``, which lands on ``dst_centre``."""
    m = cv2.getRotationMatrix2D((float(src_centre[0]), float(src_centre[1])), angle_deg, scale)
    m[:, 2] += np.asarray(dst_centre, np.float64) - np.asarray(src_centre, np.float64)
    return m


def apply(m: np.ndarray, points: np.ndarray) -> np.ndarray:
    return np.asarray(points, np.float64) @ m[:, :2].T + m[:, 2]


@dataclass
class Clip:
    frames: list[np.ndarray]  # RGB uint8
    landmarks: dict[str, np.ndarray]  # face -> (n, 5, 2) true landmarks per frame (NaN: hidden)
    centres: dict[str, np.ndarray] | None = None  # face -> (n, 2) landmarks' mean, covered or not (NaN: away)


def motion(i: int, amplitude: float = 1.0) -> tuple[float, float, np.ndarray]:
    """Angle (deg), scale factor and shift (px) of frame ``i``: smooth, incommensurate periods."""
    a = amplitude
    return (12 * a * np.sin(2 * np.pi * i / 40), 1 + 0.15 * a * np.sin(2 * np.pi * i / 55),
            np.array([18 * a * np.sin(2 * np.pi * i / 33), 10 * a * np.sin(2 * np.pi * i / 47)]))


def talking_head(n: int, name: str = "astronaut", size: tuple[int, int] = (320, 240),
                 face_px: float = 60.0, hidden: set[int] = frozenset(), amplitude: float = 1.0) -> Clip:
    """One face moving, turning (+-12 degrees x ``amplitude``) and zooming; frames in ``hidden``
    have the face covered."""
    img, lms = photo(name), LANDMARKS[name]
    centre = lms.mean(0)
    base = face_px / np.linalg.norm(lms[1] - lms[0]) * 0.4
    frames, truth = [], np.full((n, 5, 2), np.nan)
    w, h = size
    for i in range(n):
        ang, sc, shift = motion(i, amplitude)
        m = similarity(ang, base * sc, centre, np.array([w / 2, h / 2]) + shift)
        frame = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        pts = apply(m, lms)
        if i in hidden:
            x0, y0 = (pts.min(0) - face_px * 0.8).astype(int)
            x1, y1 = (pts.max(0) + face_px * 0.8).astype(int)
            cv2.rectangle(frame, (x0, y0), (x1, y1), (120, 110, 100), -1)
        else:
            truth[i] = pts
        frames.append(frame)
    return Clip(frames, {name: truth})


def side_by_side(n: int, left: str = "astronaut", right: str = "hopper",
                 size: tuple[int, int] = (640, 320), face_px: float = 70.0) -> Clip:
    """Two people, one in each half of the frame, each moving on its own."""
    w, h = size
    frames = [np.full((h, w, 3), 0, np.uint8) for _ in range(n)]
    truth = {}
    for k, name in enumerate((left, right)):
        img, lms = photo(name), LANDMARKS[name]
        base = face_px / np.linalg.norm(lms[1] - lms[0]) * 0.4
        pts_all = np.zeros((n, 5, 2))
        for i in range(n):
            ang, sc, shift = motion(i + 17 * k, amplitude=0.6)
            m = similarity(ang, base * sc, lms.mean(0), np.array([w / 4 + k * w / 2, h / 2]) + shift)
            half = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            frames[i][:, k * w // 2:(k + 1) * w // 2] = half[:, k * w // 2:(k + 1) * w // 2]
            pts_all[i] = apply(m, lms)
        truth[name] = pts_all
    return Clip(frames, truth)


def cutout(name: str, m: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The photograph warped by ``m`` into a ``size`` frame, the elliptical mask of its face (hair
    and chin included) and its true landmarks."""
    img, lms = photo(name), LANDMARKS[name]
    w, h = size
    warped = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    pts = apply(m, lms)
    iod = float(np.linalg.norm(pts[1] - pts[0]))
    angle = float(np.degrees(np.arctan2(pts[1, 1] - pts[0, 1], pts[1, 0] - pts[0, 0])))
    centre = pts.mean(0) - [0, 0.2 * iod]
    mask = np.zeros((h, w), np.uint8)
    cv2.ellipse(mask, (int(round(centre[0])), int(round(centre[1]))), (int(1.6 * iod), int(2.1 * iod)),
                angle, 0, 360, 255, -1)
    return warped, mask > 0, pts


def moving_people(n: int, paths: dict, size: tuple[int, int] = (640, 360), face_px: float = 70.0,
                  background: int = 90) -> Clip:
    """Faces cut out of the photographs moving over a plain background, drawn in ``paths`` order
    (the later in front). ``paths``: name -> frame index -> face centre (x, y), or None when the
    person is away. A landmark covered by a face in front, or outside the frame, is NaN."""
    w, h = size
    frames = [np.full((h, w, 3), background, np.uint8) for _ in range(n)]
    truth = {name: np.full((n, 5, 2), np.nan) for name in paths}
    centres = {name: np.full((n, 2), np.nan) for name in paths}
    for i in range(n):
        layers = []
        for k, (name, path) in enumerate(paths.items()):
            at = path(i)
            if at is None:
                continue
            lms = LANDMARKS[name]
            ang, sc, _ = motion(i + 13 * k, amplitude=0.4)
            m = similarity(ang, face_px / np.linalg.norm(lms[1] - lms[0]) * 0.4 * sc, lms.mean(0), at)
            layers.append((name, *cutout(name, m, size)))
        for j, (name, warped, mask, pts) in enumerate(layers):
            frames[i][mask] = warped[mask]
            centres[name][i] = pts.mean(0)
            inside = (pts >= 0).all(1) & (pts[:, 0] < w) & (pts[:, 1] < h)
            xy = np.clip(pts.round().astype(int), 0, [w - 1, h - 1])
            covered = any(front[xy[:, 1], xy[:, 0]].any() for _, _, front, _ in layers[j + 1:])
            if inside.all() and not covered:
                truth[name][i] = pts
    return Clip(frames, truth, centres)


def crossing(n: int, size: tuple[int, int] = (640, 360), face_px: float = 70.0, offset: float = 1.0) -> Clip:
    """Two people walking past each other: the astronaut left to right, Grace Hopper right to left
    and in front, ``offset`` face sizes lower, crossing at 40% of the clip."""
    w, h = size

    def x(i: int, direction: int) -> float:
        return (0.5 + direction * 0.6 * (i / max(n - 1, 1) - 0.4)) * w

    return moving_people(n, {"astronaut": lambda i: (x(i, 1), h / 2 - offset * face_px / 2),
                             "hopper": lambda i: (x(i, -1), h / 2 + offset * face_px / 2)},
                         size, face_px)
