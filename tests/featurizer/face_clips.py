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
