"""Encode synthetic media with PyAV (demo corpus and tests): H.264 video, AAC audio, CFR or VFR."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def encode_video(
    path: str | Path,
    frames: Iterable[np.ndarray],
    fps: float = 25.0,
    audio: np.ndarray | None = None,
    sample_rate: int = 16_000,
    timestamps: Sequence[float] | None = None,
    codec: str = "libx264",
) -> Path:
    """Write RGB uint8 frames (and optional mono float32 audio) to ``path``.

    ``timestamps`` (seconds) gives each frame's presentation time, for variable frame rate.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as c:
        vs = None
        tb = Fraction(1, 1000) if timestamps is not None else Fraction(1, round(fps))
        as_ = None
        if audio is not None:
            as_ = c.add_stream("aac", rate=sample_rate, layout="mono")
        for i, rgb in enumerate(frames):
            if vs is None:
                vs = c.add_stream(codec, rate=round(fps))
                vs.width, vs.height = rgb.shape[1], rgb.shape[0]
                vs.pix_fmt = "yuv420p"
                vs.codec_context.time_base = tb
                if codec == "libx264":
                    vs.options = {"preset": "ultrafast", "crf": "18"}
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            frame.pts = round(timestamps[i] * 1000) if timestamps is not None else i
            frame.time_base = tb
            for pkt in vs.encode(frame):
                c.mux(pkt)
        if vs is not None:
            for pkt in vs.encode():
                c.mux(pkt)
        if as_ is not None and audio is not None:
            _encode_audio(c, as_, np.asarray(audio, np.float32), sample_rate)
    return path


def encode_audio(path: str | Path, audio: np.ndarray, sample_rate: int = 16_000) -> Path:
    """Audio-only file (``.m4a``/``.wav`` by suffix)."""
    path = Path(path)
    with av.open(str(path), mode="w") as c:
        codec = "pcm_s16le" if path.suffix == ".wav" else "aac"
        st = c.add_stream(codec, rate=sample_rate, layout="mono")
        _encode_audio(c, st, np.asarray(audio, np.float32), sample_rate)
    return path


def _encode_audio(c, st, audio: np.ndarray, sample_rate: int) -> None:
    fmt = st.codec_context.format.name if st.codec_context.format else "fltp"
    step = st.codec_context.frame_size or 1024
    for k, s in enumerate(range(0, len(audio), step)):
        chunk = audio[s : s + step]
        if fmt.startswith("s16"):
            arr = (np.clip(chunk, -1, 1) * 32767).astype(np.int16)[None]
            frame = av.AudioFrame.from_ndarray(arr, format="s16", layout="mono")
        else:
            frame = av.AudioFrame.from_ndarray(chunk[None].astype(np.float32), format="fltp", layout="mono")
        frame.sample_rate = sample_rate
        frame.pts = k * step
        frame.time_base = Fraction(1, sample_rate)
        for pkt in st.encode(frame):
            c.mux(pkt)
    for pkt in st.encode():
        c.mux(pkt)
