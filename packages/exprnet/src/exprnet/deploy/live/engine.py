"""The live engine: frames and audio in as they arrive, one row per person and frame out as soon as
it is decided (see :mod:`exprnet.deploy.live`).

``push_frame``/``push_audio`` check their input at once (a :class:`LiveError`, the engine stays
usable) and hand it to the workers through a bounded queue: a frame that finds ``max_pending``
frames still waiting is dropped and counted (a source faster than the machine loses frames, never
memory). Two worker threads make a pipeline (the models release the GIL, so two cores work at
once): one tracks the faces and extracts each frame's visual features, the other the audio
features over a rolling buffer, the members and the post-processing (a bounded queue between them
holds the first back when the second falls behind). Rows decided since the last call come back
from every call; a worker's error is raised by the next call (a :class:`LiveError`), the rows
decided meanwhile kept for the call after it (or :meth:`close`), so none is lost.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

import numpy as np
from featurizer import FeaturizerError, load_detector

from .audio import MIN_CONTEXT_S, LiveAudio, frame_interval
from .errors import LiveError, image, samples, timestamp
from .faces import LiveFaces
from .person import Person
from .tasks import decided_row
from .warm import Warmup, warm_faces, warm_rows

DEFAULT_LAG_S = 0.5  # a sequence decoder's fixed lag


class LiveEngine:
    """One stream through a loaded :class:`~exprnet.deploy.infer.Inferencer`'s bundle and models."""

    def __init__(self, inferencer: Any, fps: float = 30.0, sample_rate: int | None = 16000, max_pending: int = 64,
                 name: str = "live", decode_lag_s: float = DEFAULT_LAG_S, audio_context_s: float = MIN_CONTEXT_S):
        if not fps or not np.isfinite(fps) or fps <= 0:
            raise LiveError(f"fps {fps}: the frame rate must be a positive number, e.g. fps=30")
        if int(max_pending) < 1:
            raise LiveError(f"max_pending {max_pending}: at least one frame must be able to wait, e.g. 64")
        inferencer.load()
        self.inf, self.bundle, self.recipe = inferencer, inferencer.bundle, inferencer.recipe
        self.fps, self.max_pending, self.name = float(fps), int(max_pending), name
        feats = self.recipe.features
        self.modalities = {f.name: f.modality for f in feats}
        self.visual = [inferencer.cache.get(f.name) for f in feats if f.modality == "visual"]
        audio_ex = [inferencer.cache.get(f.name) for f in feats if f.modality == "audio"]
        self.absent: set[str] = set()
        if audio_ex and sample_rate is None:
            if not self.bundle.missing_allowed("audio"):
                raise LiveError(f"sample_rate None: the bundle's members need audio ({', '.join(e.name for e in audio_ex)})"
                                ", give sample_rate=16000 and push the microphone's audio")
            self.absent = {e.name for e in audio_ex}
            audio_ex = []
        if sample_rate is not None and int(sample_rate) != 16000:
            raise LiveError(f"sample_rate {sample_rate}: the recipe's audio extractors read 16000 Hz mono; "
                            "resample to 16000 before pushing")
        self.sample_rate = None if sample_rate is None else int(sample_rate)
        self.audio = LiveAudio(audio_ex, 16000, audio_context_s) if audio_ex else None
        self.lag = max(0, int(round(decode_lag_s * self.fps)))
        self.faces = (LiveFaces(load_detector(inferencer.detector, inferencer.face_device), inferencer.detect_every,
                                name) if self.visual else None)
        self.people: dict[str, Person] = {}
        self._probe = Person(name, self.bundle, self.modalities, self.absent, self.lag)  # checks members can run live
        self._held: dict[str, dict] = {}  # person -> its last visual rows
        self._frames: list[dict] = []  # processed frames waiting for their audio rows
        self._q: queue.Queue = queue.Queue()
        self._pending = 0
        self._lock = threading.Lock()
        self._room = threading.Condition(self._lock)
        self._rows: list[dict] = []
        self._error: str | None = None
        self._last_t: float | None = None
        self._prev_t: float | None = None  # the last frame given to its people
        self._audio_end: float | None = None
        self._n, self._dropped, self._decided = 0, 0, 0
        self._latency: list[float] = []
        self._first: float | None = None
        self._last_decision: float | None = None
        self._closed = False
        self._rows_q: queue.Queue = queue.Queue(maxsize=16)  # back-pressure: a slow second stage drops frames early
        self._worker = threading.Thread(target=self._work_faces, name="exprnet-live-faces", daemon=True)
        self._rows_worker = threading.Thread(target=self._work_rows, name="exprnet-live-rows", daemon=True)
        self._warmup = Warmup()
        self._worker.start()
        self._rows_worker.start()
        if (err := self._warmup.wait()) is not None:  # each worker warms its models first: ready() comes after
            self.close()
            raise LiveError(err)

    # --- the caller's side -------------------------------------------------------------------
    def ready(self) -> dict:
        """Classes, tasks (``expr``, ``va``, ``au``: the rows' columns), the declared lookahead
        (seconds a frame waits for later input), fps, sample rate."""
        return {"classes": list(self.bundle.classes), "tasks": list(self.bundle.tasks),
                "lookahead_s": self.lookahead_s, "fps": self.fps, "sample_rate": self.sample_rate}

    @property
    def lookahead_s(self) -> float:
        frames = self._probe.lookahead + (1 if self.audio else 0)  # audio: the next frame's edge
        return round(frames / self.fps + (self.audio.lookahead_s if self.audio else 0.0), 4)

    def push_frame(self, t: float, rgb: Any, block: bool = False) -> list[dict]:
        """One frame (RGB uint8, ``t`` seconds, increasing); rows decided since the last call.
        ``block``: wait for room in the queue instead of dropping the frame (a file read as fast
        as the machine goes, not a live source)."""
        self._check_open()
        t = timestamp(t, "frame")
        a = image(t, rgb)
        if self._last_t is not None and t <= self._last_t:
            raise LiveError(f"frame at {t:g} s comes after the frame at {self._last_t:g} s; timestamps must increase")
        self._last_t = t
        now = time.perf_counter()
        self._first = self._first or now
        with self._room:
            self._n += 1
            while block and self._pending >= self.max_pending and self._worker.is_alive():
                self._room.wait(0.1)
            drop = self._pending >= self.max_pending
            if drop:
                self._dropped += 1
            else:
                self._pending += 1
                number = self._n
        if not drop:
            self._q.put(("frame", t, (a.copy(), number), now))
        return self._take()

    def push_audio(self, t: float, pcm: Any, rate: int) -> list[dict]:
        """Mono samples in [-1, 1] at ``rate`` Hz (the stream's), the first at ``t`` seconds on the
        frames' clock; rows decided since the last call."""
        self._check_open()
        t = timestamp(t, "audio")
        if self.sample_rate is None:
            raise LiveError("audio pushed to an engine opened with sample_rate None; open it with sample_rate=16000")
        if rate != self.sample_rate:
            raise LiveError(f"audio at {rate} Hz, but the stream was opened at {self.sample_rate} Hz; "
                            f"send {self.sample_rate} Hz mono")
        x = samples(t, pcm)
        if self._audio_end is not None and t < self._audio_end - 0.5 / rate:
            raise LiveError(f"audio at {t:g} s starts before the end of the audio already pushed "
                            f"({self._audio_end:g} s); timestamps must not go back")
        self._audio_end = t + len(x) / rate
        if self.audio is not None:
            self._q.put(("audio", t, x.astype(np.float32), 0.0))
        return self._take()

    def close(self) -> list[dict]:
        """Flush every frame the lookahead held back; the engine takes no more input."""
        if not self._closed:
            self._closed = True
            self._q.put(("close", 0.0, None, 0.0))
            self._worker.join()
            self._rows_worker.join()
        return self._take(raise_error=False)  # a worker's error stays for take_error()

    def summary(self) -> dict:
        lat = np.asarray(self._latency) if self._latency else np.zeros(1)
        span = (self._last_decision or 0) - (self._first or 0)
        return {"frames": self._n, "decided": self._decided, "dropped": self._dropped,
                "fps": round(self._decided / span, 2) if span > 0 else 0.0,
                "latency_ms": {"median": round(float(np.median(lat)), 1),
                               "p95": round(float(np.percentile(lat, 95)), 1)},
                "lookahead_s": self.lookahead_s}

    def _check_open(self) -> None:
        if self._closed:
            raise LiveError("the live engine was closed; open a new one for another stream")

    def take_error(self) -> str | None:
        """The workers' error not yet raised (one line), then None: after :meth:`close`, which
        returns its rows rather than raising."""
        with self._lock:
            err, self._error = self._error, None
        return err

    def _take(self, raise_error: bool = True) -> list[dict]:
        """Rows decided since the last call; a worker's error is raised instead, the rows kept for
        the next call (no decided row is ever lost)."""
        with self._lock:
            if self._error is not None and raise_error:
                err, self._error = self._error, None
                raise LiveError(err)
            rows, self._rows = self._rows, []
        return rows

    # --- the workers: faces and visual features | audio, members and post-processing ----------
    def _fail(self, kind: str, t: float, e: Exception) -> None:
        with self._lock:
            self._error = f"processing the {kind} at {t:g} s failed: {' '.join(str(e).split())}"

    def _work_faces(self) -> None:
        """Faces and visual features of each frame; audio and the end passed on in order."""
        self._warmup.run(warm_faces, self)
        while True:
            kind, t, data, arrival = self._q.get()
            if kind == "frame":
                with self._room:
                    self._pending -= 1
                    self._room.notify_all()
                try:
                    self._rows_q.put(("frame", t, (self._faces_of(t, data[0]), data[1]), arrival))
                except (FeaturizerError, LiveError, ValueError, RuntimeError) as e:
                    self._fail(kind, t, e)
            else:
                self._rows_q.put((kind, t, data, arrival))
                if kind == "close":
                    return

    def _work_rows(self) -> None:
        """Everything queued is taken in, then the audio rows computed and the rows resolved once
        (behind, the worker catches up in few long steps rather than many short ones)."""
        self._warmup.run(warm_rows, self)
        while True:
            items = [self._rows_q.get()]
            while len(items) < 256:
                try:
                    items.append(self._rows_q.get_nowait())
                except queue.Empty:
                    break
            kind, t = "frame", 0.0
            try:
                for kind, t, data, arrival in items:
                    if kind == "frame":
                        self._frame(t, data[0], arrival, data[1])
                    elif kind == "audio":
                        self.audio.push(t, data)
                    else:
                        if self.audio is not None:
                            self.audio.finish()
                        self._resolve(closed=True)
                        return
                if self.audio is not None:
                    self.audio.compute()
                self._resolve()
            except (FeaturizerError, LiveError, ValueError, RuntimeError) as e:
                self._fail(kind, t, e)

    def _faces_of(self, t: float, rgb: np.ndarray) -> dict[str, tuple[dict, bool]]:
        """Person -> (visual feature rows, face found in this frame); the last rows held where not."""
        seen = self.faces.step(rgb, t) if self.faces is not None else {}
        if self.visual and seen:
            names = list(seen)
            crops = np.stack([seen[n].crop for n in names])
            vals = {e.name: np.asarray(e.extract_faces(crops), np.float32) for e in self.visual}
            for i, n in enumerate(names):
                self._held[n] = {k: v[i] for k, v in vals.items()}
        if not self.visual:
            return {self.name: ({}, False)}
        return {n: (vis, n in seen) for n, vis in self._held.items()}

    def _frame(self, t: float, rows: dict, arrival: float, number: int) -> None:
        for n in rows:
            if n not in self.people:
                self.people[n] = Person(n, self.bundle, self.modalities, self.absent, self.lag)
        self._frames.append({"t": t, "arrival": arrival, "rows": rows, "number": number})

    def _resolve(self, closed: bool = False) -> None:
        """Rows whose audio is final go to their people; decided rows to the caller."""
        ready: dict[str, list[dict]] = {n: [] for n in self.people}
        while self._frames:
            f = self._frames[0]
            lo, hi = frame_interval(self._frames, self._prev_t, closed)
            if hi is None or (self.audio is not None and not self.audio.ready(hi) and not closed):
                break
            self._frames.pop(0)
            self._prev_t = f["t"]
            audio, present = {}, {}
            for e in (self.audio.extractors if self.audio else []):
                audio[e.name], present[e.name] = self.audio.frame_values(e, lo, hi, f["t"])
            for e in self.absent:
                d = self.recipe.feature(e).dim
                audio[e], present[e] = np.zeros(d, np.float32), False
            for n, (vis, face) in f["rows"].items():
                feats = {**vis, **audio}
                pres = {**{k: face for k in vis}, **present}
                meta = (f["number"], f["t"], f["arrival"], int(face))
                ready[n].append({"features": feats, "present": pres, "meta": meta})
        if self.audio is not None:
            self.audio.trim(self._frames[0]["t"] - 1.0 if self._frames else self.audio.end_time - 1.0)
        out = []
        for n, p in self.people.items():
            for meta, probs, label in p.push(ready[n], closed):
                out.append(decided_row(self.bundle, n, meta, probs, label, bool(self.visual)))
        with self._lock:
            for r in out:
                r["dropped"] = self._dropped
                self._latency.append(r["latency_ms"])
            self._latency = self._latency[-10000:]
            self._decided += len(out)
            if out:
                self._last_decision = time.perf_counter()
            self._rows.extend(out)
