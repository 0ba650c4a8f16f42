"""Valence/arousal and action units of the demo faces: functions of what is drawn and heard.

The expression labels drive each face's eased parameters (brow tilt and raise, eye openness,
mouth curve, opening and width; see :data:`~featurizer.demo.corpus.FACE`) and the voice's
(:data:`~featurizer.demo.corpus.VOICE`). Valence, arousal and the twelve AUs are computed from
those same per-frame parameters, so whatever features see the face (and, for arousal of the
speaking track, the voice) carry them:

- valence rises with the mouth's smile and falls with tilted brows;
- arousal rises with wide eyes, an open mouth, lowered-and-tilted brows, raised brows and (on
  the track whose voice is heard) loudness;
- each AU is on where the drawn feature it names is pronounced (AU12 a smiling mouth, AU26 a
  dropped jaw, AU4 lowered brows, ...).

Each task annotates its own subset of videos (:func:`annotates`), and each file has a few
unannotated runs, drawn from their own random stream so the EXPR corpus stays as it was.
"""

from __future__ import annotations

import numpy as np

SKIP = {"va": (2, 5), "au": (0, 5)}  # video index % 8 a task leaves unannotated


def annotates(task: str, index: int) -> bool:
    """Whether ``task`` ("va" or "au") annotates the ``index``-th video of the plan: with 8 videos,
    six have each, one has EXPR and VA, one EXPR and AU, one EXPR only."""
    return index % 8 not in SKIP[task]


def valence_arousal(face: np.ndarray, voice: np.ndarray | None = None) -> np.ndarray:
    """(n, 6) eased face parameters (and (n, 4) voice parameters of the heard track) -> (n, 2)."""
    tilt, raise_, eye, curve, open_, width = face.T
    valence = np.tanh(1.2 * curve - 0.5 * np.abs(tilt) + 0.3 * (width - 1))
    drive = 1.0 * (eye - 1) + 1.2 * open_ + 1.0 * np.maximum(tilt, 0) + 0.4 * raise_ - 0.1
    if voice is not None:
        drive = drive + 0.8 * (voice[:, 1] - 0.5)  # loudness
    return np.stack([valence, np.tanh(drive)], axis=1).astype(np.float32)


def action_units(face: np.ndarray) -> np.ndarray:
    """(n, 6) eased face parameters -> (n, 12) 0/1 in AU_NAMES order."""
    tilt, raise_, eye, curve, open_, width = face.T
    on = [
        (raise_ > 0.5) & (tilt < -0.3),   # AU1 inner brow raiser
        raise_ > 0.6,                     # AU2 outer brow raiser
        (tilt > 0.4) | (raise_ < -0.2),   # AU4 brow lowerer
        curve > 0.6,                      # AU6 cheek raiser
        eye < 0.75,                       # AU7 lid tightener
        (curve < -0.5) & (tilt > 0.3),    # AU10 upper lip raiser
        curve > 0.4,                      # AU12 lip corner puller
        curve < -0.5,                     # AU15 lip corner depressor
        (width < 0.75) & (open_ < 0.3),   # AU23 lip tightener
        (open_ < 0.15) & (curve < -0.3),  # AU24 lip pressor
        open_ > 0.25,                     # AU25 lips part
        open_ > 0.55,                     # AU26 jaw drop
    ]
    return np.stack(on, axis=1).astype(np.int8)


def unannotated_runs(n: int, rng: np.random.Generator, share: float = 0.05) -> np.ndarray:
    """(n,) bool: runs of 0.6-3 s left unannotated, about ``share`` of them."""
    out = np.zeros(n, bool)
    i = 0
    while i < n:
        k = int(rng.integers(15, 75))
        out[i : i + k] = rng.random() < share
        i += k
    return out
