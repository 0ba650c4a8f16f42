"""Faces: detection with landmarks, 5-point alignment to the ArcFace template, identity tracks,
and the face sources the pipeline reads (docs/faces.md).

Modules: ``detect`` (detectors), ``align`` (template and warp), ``track`` (linking and naming),
``scan`` (one video: detect, track, crop), ``sources`` (what extraction reads), ``write``
(``featurizer faces``: the Aff-Wild2 cropped_aligned layout on disk).

May import: :mod:`featurizer.core`, :mod:`featurizer.media`, the root's errors and progress.
"""

from .align import ARCFACE_112, CROP_SIZE, align_face, similarity_matrix
from .detect import DEFAULT_DETECTOR, DETECTORS, Detections, FaceDetector, load_detector
from .sources import Crop, CroppedAlignedFaces, DetectedFaces, FaceSource, face_source
from .track import FaceTrack, TrackRule, track_faces, track_names

__all__ = ["ARCFACE_112", "CROP_SIZE", "DEFAULT_DETECTOR", "DETECTORS", "Crop", "CroppedAlignedFaces",
           "DetectedFaces", "Detections", "FaceDetector", "FaceSource", "FaceTrack", "TrackRule",
           "align_face", "face_source", "load_detector", "similarity_matrix", "track_faces",
           "track_names"]
