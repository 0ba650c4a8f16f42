"""The messages of ``/v1/live`` (docs/http.md): the connection's query, the client's JSON messages
checked and decoded (a JPEG to RGB pixels, base64 float32 PCM to samples), each failure one line
naming the message and what to send instead (:class:`MessageError`)."""

from __future__ import annotations

import base64
import binascii
import io
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

MAX_PIXELS = 3840 * 2160  # a frame larger than 4K is refused before it is decoded
QUERY_KEYS = ("fps", "sample_rate", "api_key")


class MessageError(ValueError):
    """A bad message (or query): one line, said to the client as ``{"type": "error"}``."""


@dataclass(frozen=True)
class LiveParams:
    fps: float
    sample_rate: int | None


@dataclass
class Frame:
    t: float
    jpeg: bytes

    def rgb(self) -> np.ndarray:
        """The JPEG (or PNG) as (H, W, 3) uint8; a payload that is not an image raises."""
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(io.BytesIO(self.jpeg)) as im:
                w, h = im.size
                if w * h > MAX_PIXELS:
                    raise MessageError(f"frame at t={self.t}: {w}x{h} pixels, more than the {MAX_PIXELS} "
                                       "accepted (send at most 3840x2160, e.g. 640x480)")
                return np.asarray(im.convert("RGB"))
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
            if isinstance(e, MessageError):
                raise
            raise MessageError(f"frame at t={self.t}: 'jpeg' is not an image ({len(self.jpeg)} bytes that "
                               "no image decoder reads; send a base64 JPEG, e.g. canvas.toBlob(..., "
                               "'image/jpeg'))") from None


@dataclass
class Audio:
    t: float
    rate: int
    pcm: np.ndarray  # float32 mono


@dataclass
class End:
    pass


def parse_query(query: Mapping[str, str]) -> LiveParams:
    """``fps`` (default 30, 1 to 120) and ``sample_rate`` (8000 to 192000 Hz; absent: no audio)."""
    unknown = sorted(set(query) - set(QUERY_KEYS))
    if unknown:
        raise MessageError(f"query parameter {unknown[0]!r}: unknown (known: {', '.join(QUERY_KEYS)})")
    fps = _number(query.get("fps", "30"), "query parameter fps", 1.0, 120.0, "e.g. fps=30")
    sr = query.get("sample_rate")
    rate = None if sr in (None, "") else int(_number(sr, "query parameter sample_rate", 8000, 192000,
                                                     "the microphone's rate in Hz, e.g. sample_rate=16000",
                                                     integer=True))
    return LiveParams(fps, rate)


def _number(raw: Any, what: str, lo: float, hi: float, hint: str, integer: bool = False) -> float:
    try:
        v = float(raw)
    except (TypeError, ValueError):
        raise MessageError(f"{what}: {str(raw)[:40]!r} is not a number ({hint})") from None
    if isinstance(raw, bool) or not math.isfinite(v) or not lo <= v <= hi or (integer and v != int(v)):
        kind = "an integer" if integer else "a number"
        raise MessageError(f"{what}: {str(raw)[:40]} is not {kind} from {lo:g} to {hi:g} ({hint})")
    return v


def _b64(doc: dict, key: str, what: str) -> bytes:
    raw = doc.get(key)
    if not isinstance(raw, str) or not raw:
        raise MessageError(f"{what}: field {key!r} missing or not a string (send it base64-encoded)")
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise MessageError(f"{what}: field {key!r} is not valid base64") from None


def parse_message(text: str | None, data: bytes | None, max_bytes: int, params: LiveParams) -> Frame | Audio | End:
    """One client message, checked; raises :class:`MessageError` naming what was wrong."""
    if text is None:
        raise MessageError(f"binary message of {len(data or b'')} bytes: send JSON text messages "
                           '({"type": "frame"|"audio"|"end", ...})')
    if len(text) > max_bytes:
        raise MessageError(f"message of {len(text)} bytes: larger than the {max_bytes} accepted (send smaller "
                           "frames, e.g. 640x480 JPEG, and audio in chunks of a fraction of a second)")
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise MessageError(f"message is not JSON ({e.msg} at character {e.pos}); send "
                           '{"type": "frame"|"audio"|"end", ...}') from None
    if not isinstance(doc, dict) or "type" not in doc:
        raise MessageError(f"message is JSON but {'has no' if isinstance(doc, dict) else 'not an object with a'} "
                           '"type" field (send {"type": "frame"|"audio"|"end", ...})')
    kind = doc["type"]
    if kind == "end":
        return End()
    if kind not in ("frame", "audio"):
        raise MessageError(f"message type {str(kind)[:40]!r}: unknown (send type frame, audio or end)")
    what = f"{kind} message"
    t = _number(doc.get("t"), f"{what}: field 't'", 0.0, 1e7, "seconds since the stream started, e.g. 0.033")
    what = f"{kind} at t={t:g}"
    if kind == "frame":
        return Frame(t, _b64(doc, "jpeg", what))
    rate = int(_number(doc.get("rate"), f"{what}: field 'rate'", 1, 10**6, "the samples' rate in Hz", integer=True))
    if params.sample_rate is None:
        raise MessageError(f"{what}: this session declared no sample_rate (connect with "
                           "?sample_rate=RATE to send audio)")
    if rate != params.sample_rate:
        raise MessageError(f"{what}: rate {rate} Hz, but the session declared sample_rate={params.sample_rate} "
                           "(resample, or reconnect with the microphone's rate)")
    raw = _b64(doc, "pcm", what)
    if len(raw) % 4:
        raise MessageError(f"{what}: 'pcm' is {len(raw)} bytes, not a whole number of float32 samples "
                           "(send little-endian float32 mono)")
    pcm = np.frombuffer(raw, "<f4").astype(np.float32)
    if not np.isfinite(pcm).all() or (pcm.size and np.abs(pcm).max() > 1.0):
        raise MessageError(f"{what}: samples outside [-1, 1] or not finite (send float32 PCM in [-1, 1])")
    return Audio(t, rate, pcm)
