"""A clip of a real face for trying pretrained models: scikit-image's astronaut photograph (Eileen
Collins, smiling; public domain, shipped in the scikit-image wheel) moving like a talking head, with
real speech from eSpeak NG when the espeakng-loader wheel is installed (both are dev dependencies
of the workspace)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import FeaturizerError
from ..media.encode import encode_video
from .speech import available as speech_available
from .speech import speech_with_pauses

# The photograph's five landmarks (eyes, nose, mouth corners; image left/right), in its pixels.
ASTRONAUT_LANDMARKS = np.array([[204, 101], [247, 103], [224, 129], [201, 140], [246, 141]], np.float64)
SENTENCES = ["Hello, it is good to see you.", "I am very happy today.", "The launch went well.",
             "We will fly again soon.", "Thank you all."]


def astronaut() -> np.ndarray:
    """The RGB uint8 photograph (512x512)."""
    try:
        from skimage import data
    except ImportError:
        raise FeaturizerError("the portrait clip", "needs scikit-image (its astronaut photograph)",
                              "pip install scikit-image") from None
    return np.ascontiguousarray(data.astronaut())


def portrait_frames(n: int, fps: float = 25.0, size: tuple[int, int] = (320, 240), eye_px: float = 40.0) -> list[np.ndarray]:
    """``n`` frames: the face turning (+-8 degrees), nodding in scale (+-8%) and drifting slowly."""
    import cv2

    img, lms = astronaut(), ASTRONAUT_LANDMARKS
    centre = lms.mean(0)
    base = eye_px / float(np.linalg.norm(lms[1] - lms[0]))
    w, h = size
    out = []
    for i in range(n):
        t = i / fps
        m = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), 8 * np.sin(2 * np.pi * t / 3.1),
                                    base * (1 + 0.08 * np.sin(2 * np.pi * t / 2.3)))
        m[:, 2] += np.array([w / 2 + 12 * np.sin(2 * np.pi * t / 4.3), h / 2 + 6 * np.sin(2 * np.pi * t / 3.7)]) - centre
        out.append(cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE))
    return out


def write_portrait(path: str | Path, seconds: float = 6.0, fps: float = 25.0, speech: bool = True) -> tuple[Path, bool]:
    """Encode the clip to ``path``; returns (path, whether it has speech). Without eSpeak NG (or
    with ``speech=False``) the clip has no audio track."""
    n = int(round(seconds * fps))
    frames = portrait_frames(n, fps)
    audio = None
    if speech and speech_available():
        wave, _ = speech_with_pauses(SENTENCES, [0.4, 0.6, 0.5, 0.7, 0.3], lead=0.3)
        total = int(seconds * 16_000)
        audio = np.zeros(total, np.float32)
        audio[: min(total, len(wave))] = wave[:total]
    return encode_video(path, frames, fps, audio), audio is not None
