"""A small corpus in the Aff-Wild2 layout whose labels are learnable from face and voice.

Each video shows a drawn face whose expression follows a label sequence (eyebrows, eyes, mouth),
with head motion, lighting drift and noise; its soundtrack is a voiced, harmonic signal whose
pitch, loudness and brightness follow the same labels; valence/arousal and action units are
functions of the same drawn parameters (:mod:`featurizer.demo.affect`). Written:

    OUT/videos/<video>.mp4
    OUT/annotations/Train_Set/<track>.txt, OUT/annotations/Validation_Set/<track>.txt   (EXPR)
    OUT/VA_Set/{Train_Set,Validation_Set}/<track>.txt, OUT/AU_Set/...   (each a subset of videos)
    OUT/cropped_aligned/<track>/00001.jpg ...   (112x112; about 4% of frames missing)
    OUT/heldout/{videos,cropped_aligned,annotations,VA_Set,AU_Set}/   (videos no training run sees)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..core.annotations import write_annotation, write_au_annotation, write_va_annotation
from ..media.encode import encode_video
from .affect import action_units, annotates, unannotated_runs, valence_arousal

FPS = 25
SR = 16_000
W, H = 320, 240

# Per class: brow tilt, brow raise, eye openness, mouth curve, mouth open, mouth width.
FACE = np.array([
    [0.0, 0.0, 1.0, 0.0, 0.0, 1.0],    # Neutral
    [1.0, -0.6, 0.7, -0.4, 0.1, 0.9],  # Anger
    [0.5, -0.3, 0.5, -0.6, 0.2, 0.7],  # Disgust
    [-0.8, 0.8, 1.5, -0.2, 0.6, 0.8],  # Fear
    [0.0, 0.2, 0.8, 1.0, 0.3, 1.3],    # Happiness
    [-1.0, 0.3, 0.6, -0.9, 0.0, 0.8],  # Sadness
    [0.0, 1.0, 1.6, 0.0, 1.0, 0.6],    # Surprise
    [0.3, 0.4, 0.9, 0.5, 0.5, 0.5],    # Other
])
# Per class: f0 (Hz), loudness, brightness (spectral tilt), voicing fraction.
VOICE = np.array([
    [120, 0.35, 0.4, 0.5],
    [170, 0.9, 0.9, 0.8],
    [105, 0.45, 0.3, 0.6],
    [260, 0.5, 0.6, 0.7],
    [210, 0.7, 0.8, 0.8],
    [95, 0.2, 0.2, 0.4],
    [300, 0.75, 0.7, 0.6],
    [150, 0.55, 0.5, 0.9],
])


@dataclass(frozen=True)
class DemoTrack:
    track: str
    video: str
    split: str


def label_sequence(n: int, rng: np.random.Generator, unannotated: float = 0.05) -> np.ndarray:
    """Runs of one class, 0.6-3 s long, with a few unannotated (-1) runs."""
    out = np.empty(n, np.int8)
    i = 0
    while i < n:
        k = int(rng.integers(int(0.6 * FPS), 3 * FPS))
        out[i : i + k] = -1 if rng.random() < unannotated else rng.integers(0, 8)
        i += k
    return out


def _smooth_params(labels: np.ndarray, table: np.ndarray, width: int = 5) -> np.ndarray:
    """Per-frame parameters of each label, eased over ``width`` frames at transitions."""
    cls = labels.astype(int).copy()
    for i in range(1, len(cls)):  # unannotated frames keep showing the previous expression
        if cls[i] < 0:
            cls[i] = cls[i - 1]
    cls[cls < 0] = 0
    p = table[cls].astype(np.float64)
    k = np.ones(width) / width
    return np.stack([np.convolve(np.pad(p[:, j], (width // 2, width // 2), mode="edge"), k, "valid")
                     for j in range(p.shape[1])], axis=1)


def draw_face(img: np.ndarray, cx: float, cy: float, s: float, p: np.ndarray, skin: tuple) -> None:
    tilt, raise_, eye, curve, open_, width = p
    ax, ay = int(42 * s), int(54 * s)
    cv2.ellipse(img, (int(cx), int(cy)), (ax, ay), 0, 0, 360, skin, -1, cv2.LINE_AA)
    dark = (40, 30, 30)
    for side in (-1, 1):
        ex, ey = cx + side * 17 * s, cy - 12 * s
        cv2.ellipse(img, (int(ex), int(ey)), (int(7 * s), max(1, int(4 * s * eye))), 0, 0, 360,
                    (250, 250, 250), -1, cv2.LINE_AA)
        cv2.circle(img, (int(ex), int(ey)), max(1, int(2.5 * s)), dark, -1, cv2.LINE_AA)
        by = ey - (10 + 6 * raise_) * s
        inner, outer = (ex - side * 9 * s, by + 5 * tilt * s), (ex + side * 9 * s, by - 3 * tilt * s)
        cv2.line(img, (int(inner[0]), int(inner[1])), (int(outer[0]), int(outer[1])), dark,
                 max(1, int(2.5 * s)), cv2.LINE_AA)
    my, mw = cy + 24 * s, 15 * s * width
    xs = np.linspace(-mw, mw, 24)
    ys = my - curve * 9 * s * (1 - (xs / mw) ** 2)
    top = np.stack([cx + xs, ys - open_ * 5 * s * (1 - (xs / mw) ** 2)], 1)
    bottom = np.stack([cx + xs, ys + open_ * 7 * s * (1 - (xs / mw) ** 2)], 1)[::-1]
    poly = np.concatenate([top, bottom]).astype(np.int32)
    cv2.fillPoly(img, [poly], (120, 30, 40), cv2.LINE_AA)
    cv2.polylines(img, [poly], True, dark, max(1, int(1.5 * s)), cv2.LINE_AA)


def voice(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A voiced signal: harmonics of a class-dependent f0 with syllable-rate bursts and noise."""
    n = int(len(labels) / FPS * SR)
    p = _smooth_params(labels, VOICE, width=7)
    frame_of = np.minimum((np.arange(n) / SR * FPS).astype(int), len(labels) - 1)
    f0 = p[frame_of, 0] * (1 + 0.03 * np.sin(2 * np.pi * 5 * np.arange(n) / SR))
    loud, bright, voicing = p[frame_of, 1], p[frame_of, 2], p[frame_of, 3]
    phase = 2 * np.pi * np.cumsum(f0) / SR
    sig = np.zeros(n)
    for h in range(1, 16):
        sig += (h ** -(2.2 - 1.4 * bright)) * np.sin(h * phase)
    syl = 0.5 * (1 + np.sin(2 * np.pi * 4.0 * np.arange(n) / SR + rng.uniform(0, 6.28)))
    gate = (syl < voicing * 1.2).astype(np.float64)
    gate = np.convolve(gate, np.ones(160) / 160, "same")
    out = 0.25 * loud * gate * sig / 3 + 0.01 * rng.standard_normal(n)
    return np.clip(out, -1, 1).astype(np.float32)


def render_video(tracks_labels: list[np.ndarray], rng: np.random.Generator
                 ) -> tuple[list[np.ndarray], list[list[np.ndarray]]]:
    """Frames with one face per label sequence (side by side) and each face's aligned crop."""
    n = len(tracks_labels[0])
    params = [_smooth_params(lab, FACE) for lab in tracks_labels]
    k = len(tracks_labels)
    skins = [tuple(int(c) for c in rng.integers(150, 230, 3)) for _ in range(k)]
    bg = rng.integers(40, 120, 3)
    frames: list[np.ndarray] = []
    crops: list[list[np.ndarray]] = [[] for _ in range(k)]
    drift = rng.uniform(0, 6.28, (k, 3))
    for i in range(n):
        t = i / FPS
        img = np.empty((H, W, 3), np.uint8)
        img[:] = np.clip(bg + 20 * np.sin(0.3 * t), 0, 255)
        for j in range(k):
            base_x = W * (j + 1) / (k + 1)
            cx = base_x + 12 * np.sin(0.7 * t + drift[j, 0])
            cy = H / 2 + 8 * np.sin(0.5 * t + drift[j, 1])
            s = (0.9 if k == 1 else 0.75) * (1 + 0.08 * np.sin(0.4 * t + drift[j, 2]))
            draw_face(img, cx, cy, s, params[j][i], skins[j])
            half = int(70 * s)
            x0, y0 = int(cx) - half, int(cy) - half
            pad = cv2.copyMakeBorder(img, half, half, half, half, cv2.BORDER_REPLICATE)
            crop = pad[y0 + half : y0 + 3 * half, x0 + half : x0 + 3 * half]
            crops[j].append(cv2.resize(crop, (112, 112), interpolation=cv2.INTER_AREA))
        noise = rng.normal(0, 4, img.shape)
        frames.append(np.clip(img + noise, 0, 255).astype(np.uint8))
    return frames, crops


def demo_plan(n_videos: int) -> list[tuple[str, list[str], str]]:
    """(video, tracks, split): Aff-Wild2-like names, one two-face video, ~25% validation."""
    names = ["101-25-320x240", "video3", "demo-long", "7-25-320x240", "video12",
             "30-25-320x240", "video21", "88-25-320x240", "video30", "video44"]
    plan = []
    for i in range(n_videos):
        name = names[i] if i < len(names) else f"video{100 + i}"
        split = "Validation_Set" if i % 4 == 3 else "Train_Set"
        tracks = [f"{name}_left", f"{name}_right"] if i == 1 else [name]
        plan.append((name, tracks, split))
    return plan


def make_demo(out: str | Path, n_videos: int = 8, seconds: float = 20.0, seed: int = 0,
              missing_crops: float = 0.04, heldout: int = 1) -> list[DemoTrack]:
    """Write the demo corpus; returns its tracks. ``heldout`` more videos, made the same way, go
    to ``OUT/heldout/`` (videos/, cropped_aligned/, and their labels in annotations/, VA_Set/ and
    AU_Set/ beside, not in the training annotations): new videos to run a trained bundle on."""
    out = Path(out)
    rng = np.random.default_rng(seed)
    written: list[DemoTrack] = []
    n = int(seconds * FPS)
    for i, (video, tracks, split) in enumerate(demo_plan(n_videos)):
        dirs = {"expr": out / "annotations" / split} | {
            task: out / folder / split for task, folder in (("va", "VA_Set"), ("au", "AU_Set")) if annotates(task, i)}
        _write_video(out, dirs, video, tracks, n, rng, missing_crops, np.random.default_rng([seed, 36, i]))
        written += [DemoTrack(t, video, split) for t in tracks]
    held = np.random.default_rng(seed + 10_007)  # its own stream: the training videos stay as they were
    for k in range(heldout):
        video, h = f"heldout-{k + 1}", out / "heldout"
        dirs = {"expr": h / "annotations", "va": h / "VA_Set", "au": h / "AU_Set"}
        _write_video(h, dirs, video, [video], n, held, missing_crops, np.random.default_rng([seed, 36, 10_000 + k]))
    return written


def _write_video(root: Path, dirs: dict[str, Path], video: str, tracks: list[str], n: int, rng: np.random.Generator,
                 missing_crops: float, affect_rng: np.random.Generator) -> None:
    """One video, its crops and each track's labels for the tasks in ``dirs`` (task -> folder);
    ``affect_rng`` draws the VA/AU unannotated runs (the EXPR corpus does not depend on it)."""
    labels = [label_sequence(n, rng) for _ in tracks]
    frames, crops = render_video(labels, rng)
    encode_video(root / "videos" / f"{video}.mp4", frames, FPS, voice(labels[0], rng), SR)
    for j, (track, lab, cr) in enumerate(zip(tracks, labels, crops, strict=True)):
        write_annotation(dirs["expr"] / f"{track}.txt", lab)
        face = _smooth_params(lab, FACE)
        if "va" in dirs:  # the voice is track 0's (see voice()): its loudness raises that track's arousal
            va = valence_arousal(face, _smooth_params(lab, VOICE, width=7) if j == 0 else None)
            va[unannotated_runs(n, affect_rng)] = np.nan
            write_va_annotation(dirs["va"] / f"{track}.txt", va)
        if "au" in dirs:
            au = action_units(face)
            au[unannotated_runs(n, affect_rng)] = -1
            write_au_annotation(dirs["au"] / f"{track}.txt", au)
        cdir = root / "cropped_aligned" / track
        cdir.mkdir(parents=True, exist_ok=True)
        gone = rng.random(n) < missing_crops
        for i, c in enumerate(cr):
            if not gone[i]:
                cv2.imwrite(str(cdir / f"{i + 1:05d}.jpg"), cv2.cvtColor(c, cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_QUALITY, 90])
