"""``featurizer faces``: videos -> the Aff-Wild2 cropped_aligned layout.

``OUT/<track>/00001.jpg`` (112x112, aligned to the ArcFace template; the number is the 1-based
video frame) and ``OUT/<track>.csv`` (box, score and five landmarks per frame, video pixels).
Each video's tracks are written under a temporary name and renamed into place, so a track folder
is complete or absent; ``OUT/.featurizer-faces/<video>.json`` records a finished video, and a
re-run skips it. A bad video is reported and the others go on.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
from rich.table import Table

from ..core.files import atomic_write_json
from ..errors import FaceError, FeaturizerError
from ..media.decode import AUDIO_SUFFIXES, find_media, probe_video
from ..progress import NoProgress, Progress
from .detect import DEFAULT_DETECTOR, FaceDetector, load_detector
from .scan import VideoFaces, aligned_crops, scan_video
from .track import FaceTrack, TrackRule, track_names
from .tracker import DEFAULT_DETECT_EVERY, check_detect_every

CSV_COLUMNS = ["frame", "x1", "y1", "x2", "y2", "score"] + [f"l{a}{i}" for i in range(1, 6) for a in "xy"]
RECORDS = ".featurizer-faces"
JPEG_QUALITY = 95


@dataclass
class TrackResult:
    video: str
    track: str
    frames: int = 0  # video frames
    faces: int = 0  # frames with an aligned crop
    status: str = "done"  # done | skipped | no face | failed
    seconds: float = 0.0
    error: str | None = None


@dataclass
class FacesReport:
    results: list[TrackResult] = field(default_factory=list)
    seconds: float = 0.0
    detector: str = DEFAULT_DETECTOR
    detect_every: int = DEFAULT_DETECT_EVERY

    @property
    def ok(self) -> bool:
        return not any(r.status == "failed" for r in self.results)


def csv_rows(track: FaceTrack) -> list[list[str]]:
    rows = []
    for f, box, score, lm in zip(track.frames, track.boxes, track.scores, track.landmarks, strict=True):
        rows.append([str(int(f) + 1), *(f"{v:.2f}" for v in box), f"{score:.4f}",
                     *(f"{v:.2f}" for v in lm.reshape(-1))])
    return rows


def _write_csv(path: Path, track: FaceTrack) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_COLUMNS)
        w.writerows(csv_rows(track))


def _read_record(record: Path) -> dict:
    try:
        return json.loads(record.read_text())
    except (OSError, ValueError):
        return {}


def _finished(out: Path, record: Path) -> dict | None:
    """The record of a finished video whose tracks are all in place, else None."""
    rec = _read_record(record)
    if rec.get("state") != "done":
        return None
    if all((out / t).is_dir() and (out / f"{t}.csv").is_file() for t in rec["tracks"]):
        return rec
    return None


def _one_video(video: Path, out: Path, detector: FaceDetector, rule: TrackRule, overwrite: bool,
               taken: dict[str, str], progress: Progress, detect_every: int) -> list[TrackResult]:
    t0 = time.perf_counter()
    name, records = video.stem, out / RECORDS
    record = records / f"{name}.json"
    if not overwrite and (rec := _finished(out, record)) is not None:
        return [TrackResult(video.name, t, rec["frames"], n, "skipped") for t, n in rec["tracks"].items()] \
            or [TrackResult(video.name, name, rec["frames"], 0, "skipped")]
    previous = _read_record(record).get("tracks", {})
    info = probe_video(video)
    progress.video(name, info.n_frames)
    faces = scan_video(video, detector, info, rule, progress.frames, detect_every)
    tracks = track_names(name, faces.tracks)
    for t in tracks:
        if t in taken:
            raise FaceError(video, f"track {t!r} was already written from {taken[t]}",
                            "give each input video a unique name")
        if not overwrite and t not in previous and ((out / t).exists() or (out / f"{t}.csv").exists()):
            raise FaceError(out / t, "exists and was not written by featurizer faces",
                            "use another --out, or --overwrite to replace it")
    tmp = out / f".tmp-{name}-{os.getpid()}"
    try:
        _write_tracks(video, out, tmp, faces, tracks, record)
        for t in set(previous) - set(tracks):  # tracks an earlier run made that this one does not
            shutil.rmtree(out / t, ignore_errors=True)
            (out / f"{t}.csv").unlink(missing_ok=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for t in tracks:
        taken[t] = video.name
    progress.video_done()
    dt = time.perf_counter() - t0
    if not tracks:
        progress.warn(f"{video}: no face found in any of {info.n_frames} frames")
        return [TrackResult(video.name, name, info.n_frames, 0, "no face", dt)]
    return [TrackResult(video.name, t, info.n_frames, len(track), "done", dt) for t, track in tracks.items()]


def _write_tracks(video: Path, out: Path, tmp: Path, faces: VideoFaces, tracks: dict[str, FaceTrack],
                  record: Path) -> None:
    """Crops and CSVs under ``tmp``, then each track renamed into ``out``; the record last."""
    for t in tracks:
        (tmp / t).mkdir(parents=True)
    keys = {k: t for t, k in zip(tracks, faces.tracks, strict=True)}
    params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
    for key, k, crop in aligned_crops(video, faces.timestamps, faces.tracks):
        path = tmp / keys[key] / f"{k + 1:05d}.jpg"
        if not cv2.imwrite(str(path), cv2.cvtColor(crop, cv2.COLOR_RGB2BGR), params):
            raise FaceError(path, "could not write the crop", "check the disk space and permissions of --out")
    for t, track in tracks.items():
        _write_csv(tmp / f"{t}.csv", track)
    record.parent.mkdir(parents=True, exist_ok=True)
    rec = {"video": str(video), "detector": faces.detector, "detect_every": faces.detect_every,
           "detector_runs": faces.detector_runs, "frames": faces.n_frames, "frames_with_face": faces.frames_with_face,
           "tracks": {t: len(track) for t, track in tracks.items()}, "state": "moving"}
    atomic_write_json(record, rec)
    for t in tracks:  # each track folder appears whole: rename, never copy
        if (out / t).exists():
            shutil.rmtree(out / t)
        os.replace(tmp / t, out / t)
        os.replace(tmp / f"{t}.csv", out / f"{t}.csv")
    atomic_write_json(record, {**rec, "state": "done"})


def write_faces(inputs: list[str | Path], out: str | Path, detector: str | FaceDetector = DEFAULT_DETECTOR,
                overwrite: bool = False, rule: TrackRule = TrackRule(), device: str | None = None,
                threshold: float | None = None, progress: Progress | None = None,
                detect_every: int = DEFAULT_DETECT_EVERY) -> FacesReport:
    """Detect, align and track the faces of every video in ``inputs`` into ``out`` (the detector
    runs every ``detect_every`` frames and where a face is lost; faces are followed in between)."""
    progress = progress or NoProgress()
    t0 = time.perf_counter()
    detect_every = check_detect_every(detect_every)
    det = load_detector(detector, device, threshold) if isinstance(detector, str) else detector
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    videos = [p for p in find_media(list(inputs)) if p.suffix.lower() not in AUDIO_SUFFIXES]  # faces need video
    if not videos:
        raise FaceError(", ".join(map(str, inputs)) or "VIDEO", "no video files found",
                        "pass video files or folders that hold them")
    progress.start(len(videos))
    report, taken = FacesReport(detector=det.name, detect_every=detect_every), {}
    for video in videos:
        t1 = time.perf_counter()
        try:
            report.results += _one_video(video, out, det, rule, overwrite, taken, progress, detect_every)
        except FeaturizerError as e:
            report.results.append(TrackResult(video.name, video.stem, status="failed",
                                              seconds=time.perf_counter() - t1, error=str(e)))
            progress.video_done()
        except (OSError, cv2.error, RuntimeError) as e:  # disk, OpenCV or runtime trouble with this video
            report.results.append(TrackResult(video.name, video.stem, status="failed",
                                              seconds=time.perf_counter() - t1,
                                              error=f"{video}: {e.__class__.__name__}: {' '.join(str(e).split())}"))
            progress.video_done()
    report.seconds = time.perf_counter() - t0
    return report


def summary(report: FacesReport, out: str | Path) -> tuple[Table, str]:
    """The per-track table and the closing line of ``featurizer faces``."""
    t = Table(title=f"featurizer faces -> {out}")
    for c in ("track", "video", "frames", "faces", "rate", "status", "s"):
        t.add_column(c, justify="left" if c in ("track", "video", "status") else "right")
    colours = {"done": "green", "skipped": "dim", "no face": "yellow", "failed": "red"}
    for r in report.results:
        rate = f"{r.faces / r.frames:.1%}" if r.frames else ""
        t.add_row(r.track, r.video, str(r.frames or ""), str(r.faces), rate,
                  f"[{colours[r.status]}]{r.status}[/]", f"{r.seconds:.1f}")
    tracks = [r for r in report.results if r.status in ("done", "skipped", "no face")]
    rate = sum(r.faces for r in tracks) / max(1, sum(r.frames for r in tracks))
    videos = {r.video: r for r in report.results if r.status in ("done", "no face")}
    scanned, busy = sum(r.frames for r in videos.values()), sum(r.seconds for r in videos.values())
    line = (f"{sum(r.status == 'done' for r in report.results)} track(s) written, "
            f"{sum(r.status == 'skipped' for r in report.results)} already done, "
            f"{sum(r.status == 'failed' for r in report.results)} failed; detection rate {rate:.1%} "
            f"over {len(tracks)} track(s); {scanned} frames in {report.seconds:.1f} s "
            f"({scanned / max(busy, 1e-9):.1f} frames/s on the videos, detector {report.detector} "
            f"{'on every frame' if report.detect_every == 1 else f'every {report.detect_every} frames'})")
    return t, line
