"""Valence-arousal and action units for the synthetic corpus (:mod:`exprnet.data.synthetic`), carried by its features.

Per track, 14 slow latent signals (Ornstein-Uhlenbeck, time constant ``task_frames``, unit
variance): 2 for valence/arousal, 12 for the AUs. The labels follow the expression and these latents:

- VA: ``tanh(k * class_va[c(t)] * intensity(t) + 0.6 * z_va(t))`` (Happiness positive valence,
  Anger/Fear/Surprise high arousal, Sadness low, ...);
- AU j: active where ``3 * load[c(t), j] * intensity(t) + 1.2 * z_au_j(t) - 1.5 > 0`` (AU12 and AU6
  with Happiness, AU4 with Anger and Sadness, AU1/AU2/AU25/AU26 with Surprise and Fear, ...).

The class part reaches the features through the expression prototypes already there; the latents
through ``task_gain * z(t) @ P`` added to the visual rows (``P`` shared by all subjects, so a model
can learn it). Each task annotates its own subset of source videos (``va_share``, ``au_share``;
both splits get some), with unannotated stretches like EXPR's. Its own random stream per video: the
EXPR labels are the same as without tasks; with ``task_gain`` 0 the features are too.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

N_LATENT = 14
# Neutral, Anger, Disgust, Fear, Happiness, Sadness, Surprise, Other
CLASS_VA = np.array([[0.0, 0.0], [-0.6, 0.7], [-0.5, 0.3], [-0.6, 0.7], [0.8, 0.4], [-0.6, -0.5], [0.3, 0.8],
                     [0.0, 0.1]])
# AU1 AU2 AU4 AU6 AU7 AU10 AU12 AU15 AU23 AU24 AU25 AU26, per class (how strongly it shows the AU)
AU_LOAD = np.array([
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    [0, 0, 1, 0, 1, 1, 0, 0, 1, 1, 0, 0],
    [0, 0, 1, 0, 1, 1, 0, 1, 0, 0, 1, 0],
    [1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 1, 1],
    [0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0],
    [1, 0, 1, 0, 0, 0, 0, 1, 0, 1, 0, 0],
    [1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1],
    [0, 0, 0, 0, 0, 0, 0.5, 0, 0, 0, 0.5, 0],
], float)


def latents(n: int, tau: float, rng: np.random.Generator) -> np.ndarray:
    """(n, 14) unit-variance AR(1) signals with time constant ``tau`` frames."""
    rho = np.exp(-1.0 / tau)
    e = rng.standard_normal((n, N_LATENT)) * np.sqrt(1 - rho**2)
    y, _ = lfilter([1.0], [1.0, -rho], e, axis=0, zi=rng.standard_normal((1, N_LATENT)) * rho)
    return y


def va_values(classes: np.ndarray, strength: np.ndarray, z: np.ndarray) -> np.ndarray:
    """(n, 2) float32 valence, arousal in (-1, 1)."""
    return np.tanh(1.2 * CLASS_VA[classes] * strength[:, None] + 0.6 * z[:, :2]).astype(np.float32)


def au_values(classes: np.ndarray, strength: np.ndarray, z: np.ndarray) -> np.ndarray:
    """(n, 12) int8 0/1."""
    return (3.0 * AU_LOAD[classes] * strength[:, None] + 1.2 * z[:, 2:] - 1.5 > 0).astype(np.int8)


def projection(dim: int, seed: int) -> np.ndarray:
    """(14, dim) how the latents show in the visual features (shared by all subjects)."""
    return np.random.default_rng([seed, 36, 0]).standard_normal((N_LATENT, dim)) / np.sqrt(2.0)


def task_videos(split_of: dict[int, str], va_share: float, au_share: float, seed: int) -> dict[str, set[int]]:
    """Which source videos each task annotates: a random share of them, both splits included."""
    rng = np.random.default_rng([seed, 36, 1])
    out: dict[str, set[int]] = {}
    for task, share in (("va", va_share), ("au", au_share)):
        chosen = {v for v in sorted(split_of) if rng.random() < share}
        for split in ("Train_Set", "Validation_Set"):
            mine = [v for v in sorted(split_of) if split_of[v] == split]
            if share > 0 and mine and not any(v in chosen for v in mine):
                chosen.add(mine[0])
        out[task] = chosen
    return out


def video_rng(seed: int, video: int, face: int) -> np.random.Generator:
    return np.random.default_rng([seed, 36, 2, video, face])
