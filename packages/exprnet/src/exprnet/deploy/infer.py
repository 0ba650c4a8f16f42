"""``exprnet infer``: videos -> faces and the recipe's features -> the bundle -> per-frame expressions.

Per video, through featurizer's one extraction path:

1. the file's streams are checked (a corrupt, empty or unreadable file fails alone);
2. faces are detected (every ``detect_every`` frames, the recipe's by default, and followed by
   optical flow in between), tracked and named (one person: ``<video>``; two: ``<video>_left`` and
   ``_right``), when the recipe has visual features; a video where no face is ever found fails;
   or, with ``faces_dir`` (``--faces``), read from an Aff-Wild2 ``cropped_aligned`` folder
   (``<faces_dir>/<video stem>/00001.jpg ...``), as ``featurizer extract --faces`` reads them;
3. a clip without audio fails when the members need audio, unless every member was trained with
   whole-feature dropout (then a warning, and its audio features are fed as dropped);
4. ``featurizer.extract`` extracts exactly the recipe (its options and precision, the
   models loaded once and checked against the recipe, weights by sha256) into the store, one row
   per video frame, reading the crops of step 2;
5. the bundle's members, combination and post-processing run on the stored tracks
   (:meth:`~exprnet.deploy.bundle.Bundle.predict_store`, the code of ``exprnet predict`` and
   ``exprnet ensemble``); a bundle with VA or AU adds their values, probabilities and 0/1
   (:mod:`.tasks`).

Stage seconds (faces, each model, members and post-processing) are kept for the benchmark.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from featurizer import (
    CroppedAlignedFaces,
    DetectedFaces,
    FaceSource,
    FeatureStore,
    FeaturizerError,
    MediaError,
    ModelCache,
    NoProgress,
    Progress,
    check_detect_every,
    find_media,
    load_detector,
    probe_streams,
    track_names,
)
from featurizer import extract as extract_features

from ..errors import VideoError
from ..reports.progress import NullReporter, Reporter
from .track_prediction import TrackPrediction

CLASS_COLUMNS = ("frame", "time", "expression", "face")
__all__ = ["CLASS_COLUMNS", "Inferencer", "TrackPrediction", "VideoResult"]


@dataclass
class VideoResult:
    video: str
    tracks: list[TrackPrediction] = field(default_factory=list)
    error: str | None = None
    code: str | None = None  # what kind of failure (no_face, no_audio, no_video, invalid_media ...)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    exception: Exception | None = field(default=None, repr=False)  # what ``error`` says

    @property
    def ok(self) -> bool:
        return self.error is None


class _Watch(NoProgress):
    """Forwards extraction progress (except the per-job start) and keeps each model's seconds."""

    def __init__(self, inner: Progress, seconds: dict[str, float]):
        self.inner, self.seconds, self.warnings = inner, seconds, []
        self.finished = False  # the extraction reported its video done

    def problem(self, subject: str, reason: str) -> None:
        self.inner.problem(subject, reason)

    def video(self, name: str, n_frames: int) -> None:
        self.inner.video(name, n_frames)

    def frames(self, n: int) -> None:
        self.inner.frames(n)

    def feature(self, track: str, model: str, seconds: float) -> None:
        self.seconds[f"model {model}"] += seconds
        self.inner.feature(track, model, seconds)

    def video_done(self) -> None:
        self.finished = True
        self.inner.video_done()

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)
        self.inner.warn(message)

    def note(self, message: str) -> None:
        self.inner.note(message)

    def cancelled(self) -> bool:
        return self.inner.cancelled()


class Inferencer:
    """A loaded bundle (:class:`~exprnet.deploy.bundle.Bundle`, which calls this module, so it is
    not imported here) and its recipe's extractors, for any number of videos (models load once)."""

    def __init__(self, bundle: Any, weights: Mapping[str, str] | None = None, device: str = "cpu",
                 detector: str | None = None, batch_size: int | None = None, cache: ModelCache | None = None,
                 faces_dir: str | Path | None = None, shared: bool = False, detect_every: int | None = None):
        self.bundle, self.recipe = bundle, bundle.recipe
        self.faces_dir = None if faces_dir is None else Path(faces_dir)
        self.weights = {**self.recipe.local_weights(), **dict(weights or {})}
        self.cache = cache or ModelCache.for_models(self.recipe.models, weights=self.weights, device=device,
                                                    batch_size=batch_size, options=self.recipe.options())
        self.detector = detector or self.recipe.detector
        self.detect_every = check_detect_every(self.recipe.detect_every if detect_every is None else detect_every)
        self.face_device = device if device != "cpu" else None
        self.shared = shared  # other videos run in this process at the same time (exprnet serve)
        self.seconds: dict[str, float] = defaultdict(float)
        self._loaded = False

    def load(self) -> None:
        """Load every extractor of the recipe and check it against the recipe (before any video)."""
        if self._loaded:
            return
        t0 = time.perf_counter()
        for name in self.recipe.models:
            self.recipe.check_extractor(self.cache.get(name), self.weights)
        if self.recipe.needs("visual") and self.faces_dir is None:
            load_detector(self.detector, self.face_device)  # once per process: its errors before any video
        self.seconds["load models"] += time.perf_counter() - t0
        self._loaded = True

    def people(self, video: Path, faces: FaceSource) -> dict[str, Any]:
        """Track name -> FaceTrack of the people in ``video``; {name: None} without visual features
        or with given crops (one track per video: its ``cropped_aligned`` folder)."""
        if not self.recipe.needs("visual"):
            return {video.stem: None}
        if not isinstance(faces, DetectedFaces):
            if not (self.faces_dir / video.stem).is_dir():
                raise VideoError(str(video), f"has no cropped-aligned folder {self.faces_dir / video.stem}",
                                 "name the folder that holds <video stem>/00001.jpg ... with --faces, or leave "
                                 "--faces out to detect the faces", code="no_face")
            return {video.stem: None}
        t0 = time.perf_counter()
        scanned = faces.scan(video)
        self.seconds["faces"] += time.perf_counter() - t0
        named = track_names(video.stem, scanned.tracks)
        if not named:
            raise VideoError(str(video), f"no face was found in any of its {scanned.n_frames} frames "
                             f"(detector {self.detector})", "check that a face is visible, or try --detector mtcnn",
                             code="no_face")
        return named

    def video(self, path: str | Path, store: str, progress: Progress | None = None,
              reporter: Reporter | None = None) -> VideoResult:
        """One video into ``store`` and through the bundle; failures are the result's ``error``."""
        t0 = time.perf_counter()
        video = Path(path)
        res = VideoResult(str(video))
        watch = _Watch(progress or NoProgress(), self.seconds)
        try:
            self.load()
            res.tracks = self._video(video, store, watch, reporter or NullReporter())
        except VideoError as e:
            res.error, res.code, res.exception = str(e), e.code, e
        except MediaError as e:
            res.error, res.code, res.exception = str(e), "invalid_media", e
        except FeaturizerError as e:
            res.error, res.code, res.exception = str(e), "processing_failed", e
        if not watch.finished:  # failed before extraction: the video still counts as done
            watch.inner.video_done()
        res.warnings, res.seconds = watch.warnings, time.perf_counter() - t0
        return res

    def _video(self, video: Path, store: str, watch: _Watch, reporter: Reporter) -> list[TrackPrediction]:
        streams = probe_streams(video)
        if self.recipe.needs("visual") and not streams.has_video:
            raise VideoError(str(video), "has no video stream, and the bundle's members read faces",
                             "give a video file", code="no_video")
        absent_audio = self.recipe.needs("audio") and not streams.has_audio
        audio = [f.name for f in self.recipe.features if f.modality == "audio"]
        if absent_audio and not self.bundle.missing_allowed("audio"):
            raise VideoError(str(video), f"has no audio stream, and the bundle's members need audio features "
                             f"({', '.join(audio)})", "give the video with its soundtrack", code="no_audio")
        faces: FaceSource = (CroppedAlignedFaces(self.faces_dir) if self.faces_dir is not None
                             else DetectedFaces(self.detector, device=self.face_device,
                                                detect_every=self.detect_every))  # its scan is the extraction's
        people = self.people(video, faces)
        if absent_audio:
            watch.warn(f"{video}: no audio stream; the members were trained with modality dropout, so "
                       f"{', '.join(audio)} are fed as dropped (visual features only)")
        report = extract_features(video, self.recipe.models, store, tracks={t: None for t in people}, faces=faces,
                                  detector=self.detector, detect_every=self.detect_every, dtype=self.recipe.dtype,
                                  cache=self.cache, shared=self.shared, progress=watch)
        if report.problems:
            raise VideoError(str(video), next(iter(report.problems.values())))
        for r in report.failed:
            raise VideoError(str(video), r.error or "extraction failed")
        t1 = time.perf_counter()
        names = list(people)
        absent = {t: set(audio) for t in names} if absent_audio else None
        decoded = self.bundle.predict_outputs(store, names, reporter, absent=absent)
        self.seconds["members + post-processing"] += time.perf_counter() - t1
        return [self._prediction(video, store, t, people[t], decoded[t]) for t in names]

    def _prediction(self, video: Path, store: str, track: str, face_track: Any, dec: Any) -> TrackPrediction:
        reader = FeatureStore(store, mode="r")
        times = np.asarray(reader.timestamps(track), np.float64)
        n = len(times)
        visual = [f.name for f in self.recipe.features if f.modality == "visual"]
        face = reader.read_feature(track, visual[0]).present.astype(np.int8) if visual else None
        boxes = None
        if face_track is not None:
            boxes = np.full((n, 4), np.nan)
            keep = face_track.frames < n
            boxes[face_track.frames[keep]] = face_track.boxes[keep]
        expr = dec.expr
        return TrackPrediction(track, str(video), np.arange(1, n + 1), times,
                               None if expr is None else np.asarray(expr.labels, np.int64),
                               None if expr is None else np.asarray(expr.probs, np.float32), face, self.bundle.classes,
                               boxes, dec.va, dec.au_probs, dec.au)

    def videos(self, inputs: Sequence[str | Path], store: str, progress: Progress | None = None,
               reporter: Reporter | None = None) -> Iterator[VideoResult]:
        """Every media file of ``inputs`` (files, or folders searched), one result each; two files
        with the same name would write the same tracks, so the second fails."""
        seen: dict[str, Path] = {}
        try:
            files = find_media(list(inputs))
        except MediaError as e:
            yield VideoResult(", ".join(map(str, inputs)), error=str(e))
            return
        if progress is not None:
            progress.start(len(files))
        for f in files:
            if f.stem in seen:
                if progress is not None:
                    progress.video_done()
                yield VideoResult(str(f), error=f"{f}: same name as {seen[f.stem]}; track names must be unique "
                                                "(rename one, or infer them in separate runs)")
                continue
            seen[f.stem] = f
            yield self.video(f, store, progress, reporter)
