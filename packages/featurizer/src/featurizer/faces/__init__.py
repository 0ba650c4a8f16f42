"""Faces: detection with landmarks, 5-point alignment to the ArcFace template, identity tracks,
and the face sources the pipeline reads (docs/faces.md).

Modules: ``detect`` (detectors), ``align`` (template and warp), ``track`` (linking and naming),
``flow`` (landmarks carried by optical flow), ``tracker`` (frame by frame: detect every N frames,
follow in between), ``scan`` (one video: detect or track, crop), ``sources`` (what extraction
reads), ``write`` (``featurizer faces``: the Aff-Wild2 cropped_aligned layout on disk).

May import: :mod:`featurizer.core`, :mod:`featurizer.media`, the root's errors and progress.
"""

from .align import ARCFACE_112, CROP_SIZE, align_face, similarity_matrix
from .detect import DEFAULT_DETECTOR, DETECTORS, Detections, FaceDetector, load_detector
from .sources import Crop, CroppedAlignedFaces, DetectedFaces, FaceSource, face_source
from .track import FaceTrack, TrackRule, track_faces, track_names
from .tracker import DEFAULT_DETECT_EVERY, FaceTracker, FrameFaces, TrackedFace, check_detect_every

__all__ = ["ARCFACE_112", "CROP_SIZE", "DEFAULT_DETECTOR", "DEFAULT_DETECT_EVERY", "DETECTORS", "Crop",
           "CroppedAlignedFaces", "DetectedFaces", "Detections", "FaceDetector", "FaceSource", "FaceTrack",
           "FaceTracker", "FrameFaces", "TrackRule", "TrackedFace", "align_face", "check_detect_every",
           "face_source", "load_detector", "similarity_matrix", "track_faces", "track_names"]
