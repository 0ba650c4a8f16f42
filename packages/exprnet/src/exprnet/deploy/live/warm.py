"""Warm-up: every model of a live engine run once on dummy input before the stream starts.

A model's first call pays for what it sets up lazily (imports, weights moved into place, kernels
chosen, an openSMILE instance configured: tens of milliseconds to seconds on a cold machine); a
live stream's first frames would wait for it, their latency the stream's worst. Each worker thread
warms the models it runs (openSMILE keeps one instance per thread) before the engine answers
``ready()``; nothing is kept: the rows go to a throwaway person, the tracker is not touched.
"""

from __future__ import annotations

import threading

import numpy as np

from .person import Person

WARM_AUDIO_S = 1.2  # a live audio call's length: a 0.2 s core with 0.5 s of context on each side
WARM_FRAME = (480, 640)


def warm_faces(engine) -> None:
    """The face detector on a blank frame; every visual extractor on a blank crop."""
    if engine.faces is None:
        return
    tracker = engine.faces.tracker
    tracker.detector.detect([np.full((*WARM_FRAME, 3), 128, np.uint8)])
    crop = np.full((1, tracker.crop_size, tracker.crop_size, 3), 128, np.uint8)
    for e in engine.visual:
        e.extract_faces(crop)


def warm_rows(engine) -> None:
    """Every audio extractor on a second of faint noise; the members and post-processing of a
    throwaway person on a few absent rows, flushed."""
    rate = 16000
    noise = (0.01 * np.random.default_rng(0).standard_normal(int(WARM_AUDIO_S * rate))).astype(np.float32)
    for e in engine.audio.extractors if engine.audio is not None else []:
        if e.timing.kind == "hop":
            e.extract_audio([noise], rate)
        else:
            e.extract_windows(noise, rate, np.array([WARM_AUDIO_S / 2]))
    p = Person("warm-up", engine.bundle, engine.modalities, engine.absent, engine.lag)
    n = max(8, p.lookahead + 2)
    feats = {f: np.zeros(engine.recipe.feature(f).dim, np.float32) for f in engine.modalities}
    rows = [{"features": feats, "present": dict.fromkeys(feats, False), "meta": (k, k / engine.fps, 0.0, 0)}
            for k in range(n)]
    p.push(rows[: n // 2])
    p.push(rows[n // 2:], closed=True)


class Warmup:
    """The two workers' warm-ups: each runs its part in its own thread; the engine waits for both."""

    def __init__(self):
        self.error: str | None = None
        self.done = {warm_faces: threading.Event(), warm_rows: threading.Event()}

    def run(self, part, engine) -> None:
        try:
            part(engine)
        except Exception as e:  # noqa: BLE001 - any model failing on dummy input fails the engine's start
            self.error = f"warming the live engine's models up failed: {' '.join(str(e).split())}"
        finally:
            self.done[part].set()

    def wait(self) -> str | None:
        """Once both parts ran: their error (one line), or None."""
        for ev in self.done.values():
            ev.wait()
        return self.error
