"""Decode media with PyAV: which streams a file has, its label timeline (video frame presentation
times, or rows at a given fps for audio-only files), frames, and 16 kHz mono audio."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from ..errors import MediaError, NoAudioError

SAMPLE_RATE = 16_000
VIDEO_SUFFIXES = {".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv"}
AUDIO_SUFFIXES = {".wav", ".m4a", ".mp3", ".flac", ".ogg", ".opus", ".aac"}
DEFAULT_AUDIO_FPS = 25.0  # label rows per second of an audio-only file


@dataclass(frozen=True)
class VideoInfo:
    """A file's frame times: the video's presentation times, or for an audio-only file
    (``has_video`` False) rows at ``i / fps`` covering its audio."""

    path: Path
    timestamps: np.ndarray  # (n,) float64 presentation times in seconds, sorted
    width: int
    height: int
    has_audio: bool
    has_video: bool = True
    audio_duration: float | None = None  # audio-only files: seconds of audio
    rate: float | None = None  # audio-only files: label rows per second

    @property
    def n_frames(self) -> int:
        return len(self.timestamps)

    @property
    def fps(self) -> float:
        if self.rate is not None:
            return self.rate
        if self.n_frames < 2:
            return 0.0
        return float((self.n_frames - 1) / (self.timestamps[-1] - self.timestamps[0]))

    @property
    def duration(self) -> float:
        if not self.has_video and self.audio_duration is not None:
            return self.audio_duration
        if self.n_frames == 0:
            return 0.0
        return float(self.timestamps[-1] - self.timestamps[0] + frame_durations(self.timestamps)[-1])


@dataclass(frozen=True)
class Audio:
    samples: np.ndarray  # (n,) float32 mono at ``sample_rate``
    sample_rate: int
    start: float  # presentation time (s) of the first sample, on the video's clock

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


def frame_durations(timestamps: np.ndarray) -> np.ndarray:
    """Duration of each frame: gap to the next one; the last repeats the previous gap."""
    if len(timestamps) == 0:
        return np.zeros(0)
    if len(timestamps) == 1:
        return np.array([1 / 25.0])
    d = np.diff(timestamps)
    return np.append(d, d[-1])


def _open(path: str | os.PathLike) -> av.container.InputContainer:
    p = Path(path)
    if not p.exists():
        raise MediaError(p, "file not found")
    if p.stat().st_size == 0:
        raise MediaError(p, "file is empty")
    try:
        return av.open(str(p))
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError, OSError) as e:
        raise MediaError(p, f"not a decodable video or audio file ({e.__class__.__name__}: "
                         f"{getattr(e, 'strerror', None) or e})",
                         "check the file plays in ffprobe, or re-encode it") from None


@dataclass(frozen=True)
class Streams:
    has_video: bool
    has_audio: bool
    audio_duration: float | None  # from the container's metadata, when it says


def probe_streams(path: str | os.PathLike) -> Streams:
    """Which streams a file has, from its header only (fast: nothing is decoded).

    Raises :class:`MediaError` for a missing, empty or undecodable file, or one with neither
    video nor audio: every input is checked this way before any model loads.
    """
    p = Path(path)
    with _open(p) as c:
        has_video, has_audio = bool(c.streams.video), bool(c.streams.audio)
        duration = None
        if has_audio:
            st = c.streams.audio[0]
            if st.duration is not None and st.time_base is not None:
                duration = float(st.duration * st.time_base)
            elif c.duration is not None:
                duration = c.duration / 1_000_000
    if not has_video and not has_audio:
        raise MediaError(p, "no video or audio stream", "pass a video or audio file")
    return Streams(has_video, has_audio, duration)


def probe_media(path: str | os.PathLike, audio_fps: float = DEFAULT_AUDIO_FPS) -> VideoInfo:
    """The file's frame times: a video's (:func:`probe_video`), or for a file with no video stream
    rows at ``i / audio_fps`` s, ``ceil(audio duration * audio_fps)`` of them."""
    p = Path(path)
    streams = probe_streams(p)
    if streams.has_video:
        return probe_video(p)
    duration = streams.audio_duration
    if duration is None or duration <= 0:
        duration = load_audio(p).duration
    n = max(1, math.ceil(duration * audio_fps - 1e-6))
    return VideoInfo(p, np.arange(n, dtype=np.float64) / audio_fps, 0, 0, True, has_video=False,
                     audio_duration=duration, rate=audio_fps)


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Frame presentation times from the demuxed packets (no decoding: fast, and VFR-exact).

    Falls back to decoding when packets carry no timestamps.
    """
    p = Path(path)
    with _open(p) as c:
        if not c.streams.video:
            raise MediaError(p, "no video stream", "pass a video file, or audio-only models")
        vs = c.streams.video[0]
        has_audio = bool(c.streams.audio)
        tb = vs.time_base
        pts: list[int] = []
        try:
            for pkt in c.demux(vs):
                if pkt.size and pkt.pts is not None:
                    pts.append(pkt.pts)
        except av.error.FFmpegError as e:
            if not pts:
                raise MediaError(p, f"video stream cannot be read ({e})") from None
        width, height = vs.codec_context.width, vs.codec_context.height
    if not pts:
        ts = np.array([f.time for f, _ in _decoded_frames(p, to_rgb=False)], dtype=np.float64)
    else:
        ts = np.unique(np.asarray(pts, dtype=np.int64)).astype(np.float64) * float(tb)
    if len(ts) == 0:
        raise MediaError(p, "video stream has no frames")
    return VideoInfo(p, ts, width, height, has_audio)


def _decoded_frames(path: Path, to_rgb: bool = True) -> Iterator[tuple[av.VideoFrame, np.ndarray | None]]:
    with _open(path) as c:
        if not c.streams.video:
            raise MediaError(path, "no video stream")
        vs = c.streams.video[0]
        vs.thread_type = "AUTO"
        try:
            for frame in c.decode(vs):
                yield frame, (frame.to_ndarray(format="rgb24") if to_rgb else None)
        except av.error.FFmpegError as e:
            raise MediaError(path, f"video decoding failed ({e})") from None


def iter_frames(path: str | os.PathLike) -> Iterator[tuple[float, np.ndarray]]:
    """(presentation time, RGB uint8 frame) in presentation order."""
    for frame, rgb in _decoded_frames(Path(path)):
        if frame.time is not None:
            yield float(frame.time), rgb


def load_audio(path: str | os.PathLike, sample_rate: int = SAMPLE_RATE) -> Audio:
    """Decode the first audio stream, resampled (libswresample) to mono float32."""
    p = Path(path)
    with _open(p) as c:
        if not c.streams.audio:
            raise NoAudioError(p, "no audio stream", "audio features will be marked not present")
        st = c.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        chunks: list[np.ndarray] = []
        start: float | None = None
        try:
            for frame in c.decode(st):
                if start is None and frame.time is not None:
                    start = float(frame.time)
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
        except av.error.FFmpegError as e:
            if not chunks:
                raise MediaError(p, f"audio stream cannot be decoded ({e})") from None
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
    if not chunks:
        raise NoAudioError(p, "audio stream has no samples")
    samples = np.ascontiguousarray(np.concatenate(chunks), dtype=np.float32)
    return Audio(samples, sample_rate, start or 0.0)


def find_media(inputs: list[str | os.PathLike]) -> list[Path]:
    """Files as given, and media files found recursively in folders, sorted, no duplicates.

    A folder's video files are inputs, and its audio files unless a video of the same name sits
    beside them (that video's own audio is used).
    """
    out: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file())
            videos = [f for f in files if f.suffix.lower() in VIDEO_SUFFIXES]
            beside = {f.with_suffix("") for f in videos}
            out.extend(sorted(videos + [f for f in files if f.suffix.lower() in AUDIO_SUFFIXES
                                        and f.with_suffix("") not in beside]))
        else:
            out.append(p)
    seen: set[Path] = set()
    return [p for p in out if not (p.resolve() in seen or seen.add(p.resolve()))]
