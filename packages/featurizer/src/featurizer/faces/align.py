"""Five-point alignment to the ArcFace 112x112 template (as Aff-Wild2's cropped_aligned faces).

The crop is the least-squares similarity transform (rotation, uniform scale, translation: the
Umeyama estimate insightface's ``norm_crop`` uses) that takes the five landmarks onto
:data:`ARCFACE_112`, applied with bilinear interpolation and black outside the frame.
"""

from __future__ import annotations

import cv2
import numpy as np

CROP_SIZE = 112

# insightface's arcface_dst: left eye, right eye, nose tip, left / right mouth corner (112x112 px).
ARCFACE_112 = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                        [41.5493, 92.3655], [70.7299, 92.2041]], np.float32)

# Where the five points sit in a Haar cascade box, as fractions of its width and height: the mean
# of RetinaFace's landmarks inside the cascade's boxes on scikit-image's astronaut and matplotlib's
# Grace Hopper photographs at 12 scales and roll angles each, made left-right symmetric.
BOX_POINTS = np.array([[0.30, 0.375], [0.70, 0.375], [0.50, 0.63], [0.31, 0.755], [0.69, 0.755]],
                      np.float32)


def fit_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """(2, 3) matrix of the similarity taking the (k, 2) points ``src`` closest to ``dst``.

    Solves ``u = a*x - b*y + tx, v = b*x + a*y + ty`` in the least-squares sense.
    """
    src, dst = np.asarray(src, np.float64).reshape(-1, 2), np.asarray(dst, np.float64).reshape(-1, 2)
    x, y = src[:, 0], src[:, 1]
    one, zero = np.ones(len(src)), np.zeros(len(src))
    a = np.concatenate([np.stack([x, -y, one, zero], 1), np.stack([y, x, zero, one], 1)])
    (p, q, tx, ty), *_ = np.linalg.lstsq(a, np.concatenate([dst[:, 0], dst[:, 1]]), rcond=None)
    return np.array([[p, -q, tx], [q, p, ty]])


def similarity_matrix(landmarks: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """(2, 3) matrix of the similarity taking ``landmarks`` (5, 2) closest to the template."""
    return fit_similarity(np.asarray(landmarks).reshape(5, 2), ARCFACE_112.astype(np.float64) * (size / CROP_SIZE))


def align_face(rgb: np.ndarray, landmarks: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """The ``size`` x ``size`` RGB uint8 crop of the face whose five landmarks are given."""
    m = similarity_matrix(landmarks, size)
    return cv2.warpAffine(rgb, m, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))


def box_landmarks(boxes: np.ndarray) -> np.ndarray:
    """(k, 5, 2) landmarks placed at :data:`BOX_POINTS` in (k, 4) x1, y1, x2, y2 boxes: for a
    detector without landmarks, alignment is then scale and translation only."""
    b = np.asarray(boxes, np.float32).reshape(-1, 1, 4)
    return b[..., :2] + BOX_POINTS[None] * (b[..., 2:] - b[..., :2])
