"""Five landmarks carried from one frame to the next by optical flow (OpenCV's pyramidal
Lucas-Kanade), with a forward-backward check: each point is tracked forward, then back, and kept
only when it comes back within ``FB_MAX`` of the inter-ocular distance (at least ``FB_MIN_PX``).

Up to two lost points are re-placed by the similarity the kept ones moved by; with fewer than three
kept, or a jump in scale, the face is lost (the tracker then detects again). Flow runs on a region
of about three face sizes around the face, so its cost does not grow with the frame's size.
"""

from __future__ import annotations

import cv2
import numpy as np

from .align import fit_similarity

LK_WINDOW = 21  # px: Lucas-Kanade window
LK_LEVELS = 3  # pyramid levels above the image: motions up to about 80 px a frame
LK_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01)
FB_MAX = 0.05  # forward-backward error allowed, fraction of the inter-ocular distance ...
FB_MIN_PX = 1.0  # ... and never under this many pixels
MIN_KEPT = 3  # points that must pass the check (the rest follow their similarity)
MAX_SCALE_STEP = 1.25  # the face may not grow or shrink by more than this from one frame to the next
REGION = 1.5  # the flow region reaches this many face sizes from the face's centre


def box_size(box: np.ndarray) -> float:
    """The side of the square with the box's area (px)."""
    w, h = np.clip(np.asarray(box[2:], np.float64) - box[:2], 1e-6, None)
    return float(np.sqrt(w * h))


def moved_box(box: np.ndarray, m: np.ndarray) -> np.ndarray:
    """``box`` (x1, y1, x2, y2) carried by the similarity ``m``: its centre moved, its sides
    scaled (it stays upright)."""
    box = np.asarray(box, np.float64)
    centre = m[:, :2] @ ((box[:2] + box[2:]) / 2) + m[:, 2]
    half = (box[2:] - box[:2]) / 2 * np.sqrt(abs(np.linalg.det(m[:, :2])))
    return np.concatenate([centre - half, centre + half]).astype(np.float32)


def _region(box: np.ndarray, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    size = box_size(box) * REGION
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    h, w = shape[:2]
    x0, y0 = max(0, int(cx - size)), max(0, int(cy - size))
    x1, y1 = min(w, int(np.ceil(cx + size)) + 1), min(h, int(np.ceil(cy + size)) + 1)
    return x0, y0, x1, y1


def propagate(prev: np.ndarray, cur: np.ndarray, landmarks: np.ndarray,
              box: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(landmarks, box) of the face in grey frame ``cur``, from its ``landmarks`` (5, 2) and ``box``
    in grey frame ``prev``; None when the flow loses it."""
    x0, y0, x1, y1 = _region(box, prev.shape)
    if x1 - x0 < 8 or y1 - y0 < 8:  # the face has left the frame
        return None
    a, b = prev[y0:y1, x0:x1], cur[y0:y1, x0:x1]
    p0 = (np.asarray(landmarks, np.float32).reshape(-1, 1, 2) - np.float32([x0, y0]))
    kw = {"winSize": (LK_WINDOW, LK_WINDOW), "maxLevel": LK_LEVELS, "criteria": LK_CRITERIA}
    p1, st1, _ = cv2.calcOpticalFlowPyrLK(a, b, p0, None, **kw)
    back, st2, _ = cv2.calcOpticalFlowPyrLK(b, a, p1, None, **kw)
    p0, p1, back = p0.reshape(-1, 2), p1.reshape(-1, 2), back.reshape(-1, 2)
    iod = float(np.linalg.norm(p0[1] - p0[0]))
    fb = np.linalg.norm(back - p0, axis=1)
    inside = (p1[:, 0] >= 0) & (p1[:, 1] >= 0) & (p1[:, 0] < x1 - x0) & (p1[:, 1] < y1 - y0)
    kept = (st1.ravel() == 1) & (st2.ravel() == 1) & inside & (fb <= max(FB_MIN_PX, FB_MAX * iod))
    if kept.sum() < MIN_KEPT:
        return None
    if not kept.all():  # the lost points follow the similarity of the kept ones
        m = fit_similarity(p0[kept], p1[kept])
        p1 = np.where(kept[:, None], p1, p0 @ m[:, :2].T + m[:, 2])
    m = fit_similarity(p0, p1)
    scale = np.sqrt(abs(np.linalg.det(m[:, :2])))
    if not 1 / MAX_SCALE_STEP <= scale <= MAX_SCALE_STEP:
        return None
    offset = np.array([x0, y0], np.float64)
    m[:, 2] += offset - m[:, :2] @ offset  # the similarity in frame pixels
    return (p1 + offset).astype(np.float32), moved_box(box, m)
