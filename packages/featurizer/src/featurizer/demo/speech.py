"""Real synthesized speech for the demo and test media, offline: eSpeak NG from the
espeakng-loader wheel (the library and its voice data ship inside it; a dev dependency), driven
through its C API with ctypes."""

from __future__ import annotations

import ctypes
import threading

import numpy as np

_LOCK = threading.Lock()  # eSpeak NG keeps global state: one synthesis at a time
_AUDIO_OUTPUT_SYNCHRONOUS = 0x02
_POS_CHARACTER = 1
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
_lib: tuple[ctypes.CDLL, int] | None = None


def _engine() -> tuple[ctypes.CDLL, int]:
    global _lib
    if _lib is None:
        import espeakng_loader

        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, espeakng_loader.get_data_path().encode(), 0)
        if rate <= 0:
            raise RuntimeError(f"eSpeak NG failed to initialise ({rate})")
        _lib = (lib, rate)
    return _lib


def speak(text: str, voice: str = "en", rate_wpm: int = 160, sample_rate: int = 16_000) -> np.ndarray:
    """``text`` spoken by eSpeak NG, as float32 mono in [-1, 1] at ``sample_rate``."""
    with _LOCK:
        lib, native = _engine()
        chunks: list[np.ndarray] = []

        def collect(wav, n, _events):  # noqa: ANN001 - ctypes callback
            if wav and n > 0:
                chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
            return 0

        cb = _CALLBACK(collect)
        lib.espeak_SetSynthCallback(cb)
        if lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise RuntimeError(f"eSpeak NG has no voice {voice!r}")
        lib.espeak_SetParameter(1, rate_wpm, 0)  # espeakRATE
        data = text.encode()
        err = lib.espeak_Synth(ctypes.c_char_p(data), ctypes.c_size_t(len(data) + 1), 0, _POS_CHARACTER,
                               0, 0, None, None)
        if err != 0:
            raise RuntimeError(f"eSpeak NG synthesis failed ({err})")
    wave = np.concatenate(chunks).astype(np.float32) / 32768.0
    if sample_rate != native:
        t = np.arange(int(len(wave) * sample_rate / native)) / sample_rate
        wave = np.interp(t, np.arange(len(wave)) / native, wave).astype(np.float32)
    return wave


def available() -> bool:
    """Is eSpeak NG installed (the ``espeakng-loader`` wheel)?"""
    import importlib.util

    return importlib.util.find_spec("espeakng_loader") is not None


def speech_with_pauses(sentences: list[str], pauses: list[float], lead: float = 0.5,
                       sample_rate: int = 16_000, gain: float = 0.8) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """The sentences spoken one after another, ``pauses[i]`` seconds of silence after sentence i
    and ``lead`` before the first: the wave and each sentence's (start, end) in seconds."""
    parts = [np.zeros(int(lead * sample_rate), np.float32)]
    spans, t = [], lead
    for text, pause in zip(sentences, pauses, strict=True):
        w = speak(text, sample_rate=sample_rate) * gain
        parts += [w, np.zeros(int(pause * sample_rate), np.float32)]
        spans.append((t, t + len(w) / sample_rate))
        t += (len(w) + int(pause * sample_rate)) / sample_rate
    return np.concatenate(parts), spans
