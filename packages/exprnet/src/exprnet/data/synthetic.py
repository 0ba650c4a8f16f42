"""A synthetic feature corpus in the Aff-Wild2 layout, for benchmarks and tests.

Written from the properties of the real data, not from any score measured on it:

- **Layout**: annotation files under ``Train_Set/`` and ``Validation_Set/`` (split by source
  video), a feature store written through :class:`featurizer.core.store.FeatureStore`; track names
  as in Aff-Wild2 (``12-30-1280x720``, ``video7``, ``5-30-640x360_left``/``_right``: two faces of
  one video, which share its audio).
- **Labels**: a semi-Markov chain of expressions whose frame shares follow Aff-Wild2's EXPR
  counts (Neutral and Other about 30% each, Disgust and Fear about 2%), each lasting from a
  fraction of a second to many seconds (log-normal, class-dependent median); long stretches are
  unannotated (-1) but still show expressions.
- **Visual feature**: per frame ``offset_subject + drift(t) + intensity(t) * proto_subject[c(t)]
  + noise(t)``: a weak class signal (``gain``) that ramps up and down at each expression's onset
  and offset, subject-specific prototypes and offsets, a slow drift (lighting, pose), noise that is
  partly correlated in time; frames without a face (runs of them) are filled from the nearest
  frame with one and flagged not present, as featurizer does.
- **VA and AU** (:mod:`exprnet.data.synthetic_tasks`): from the expression, its intensity and slow
  latents that also show in the visual rows; each task on its own subset of source videos.
- **Audio feature**: the same recipe with a weaker signal, computed once per source video from
  the first track's expressions and shared by both faces of a two-face video.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from featurizer.core.annotations import write_annotation, write_au_annotation, write_va_annotation
from featurizer.core.classes import EXPR_CLASSES
from featurizer.core.store import FeatureStore
from scipy.signal import lfilter

from . import synthetic_tasks as st

# Aff-Wild2 EXPR train+val frame counts per class (Neutral ... Other).
AFFWILD2_COUNTS = np.array([262_610, 23_280, 16_300, 17_583, 129_285, 106_265, 42_977, 278_146], float)
# Median length of one expression, in frames at 30 fps (Neutral/Other/Sadness long, Fear/Surprise short).
MEDIAN_FRAMES = np.array([120, 60, 45, 40, 90, 110, 30, 100], float)
FPS = 30.0


@dataclass(frozen=True)
class CorpusSpec:
    n_tracks: int = 40
    frames: int = 60_000  # total over all tracks
    visual_dim: int = 32
    audio_dim: int = 16
    gain: float = 0.3  # class signal (prototype entries ~ N(0, gain^2)); noise std is 1
    audio_gain: float = 0.2
    subject_spread: float = 0.4  # how much a subject's prototypes differ from the shared ones (0..1)
    subject_offset: float = 0.5  # std of a subject's constant offset per dimension
    drift: float = 0.3  # std of the slow drift (Ornstein-Uhlenbeck, time constant drift_frames)
    drift_frames: float = 900.0
    correlated_noise: float = 0.2  # share of the noise variance that is AR(1) in time
    noise_corr: float = 0.8  # AR(1) coefficient per frame
    missing: float = 0.04  # share of frames without a face
    unlabelled: float = 0.25  # share of frames marked -1
    val_share: float = 0.25  # share of source videos in Validation_Set
    pair_share: float = 0.2  # share of source videos with two faces (_left/_right)
    seed: int = 0
    task_gain: float = 0.35  # how strongly the VA/AU latents show in the visual rows (0: features as EXPR-only)
    task_frames: float = 90.0  # time constant of the VA/AU latents
    va_share: float = 0.7  # share of source videos annotated for VA (0: no VA_Set)
    au_share: float = 0.6  # ... for AU


SIZES: dict[str, CorpusSpec] = {
    "small": CorpusSpec(n_tracks=40, frames=60_000),
    "large": CorpusSpec(n_tracks=300, frames=1_500_000),
}


@dataclass
class Corpus:
    root: Path
    store: Path
    labels: Path
    spec: CorpusSpec
    tracks: dict[str, str] = field(default_factory=dict)  # track -> split
    label_arrays: dict[str, np.ndarray] = field(default_factory=dict)
    features: dict[str, int] = field(default_factory=dict)  # name -> dim
    va_arrays: dict[str, np.ndarray] = field(default_factory=dict)  # VA-annotated tracks: (n, 2), NaN unannotated
    au_arrays: dict[str, np.ndarray] = field(default_factory=dict)  # AU-annotated tracks: (n, 12), -1 unannotated

    @property
    def va_labels(self) -> Path:
        return self.root / "VA_Set"

    @property
    def au_labels(self) -> Path:
        return self.root / "AU_Set"


def expression_runs(n: int, rng: np.random.Generator) -> np.ndarray:
    """Per-frame classes 0-7: a chain of expressions with Aff-Wild2's frame shares."""
    share = AFFWILD2_COUNTS / AFFWILD2_COUNTS.sum()
    mean_len = MEDIAN_FRAMES * np.exp(0.9**2 / 2)  # log-normal mean for sigma 0.9
    p_start = share / mean_len
    p_start /= p_start.sum()  # a class starts this often so that its frame share comes out right
    out = np.empty(n, np.int8)
    i, prev = 0, -1
    while i < n:
        p = p_start.copy()
        if prev >= 0:
            p[prev] = 0.0
            p /= p.sum()
        c = int(rng.choice(8, p=p))
        k = int(np.clip(rng.lognormal(np.log(MEDIAN_FRAMES[c]), 0.9), 4, 3000))
        out[i:i + k] = c
        i, prev = i + k, c
    return out


def intensity(classes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per frame, how strongly the expression shows: an apex per expression, with onset and
    offset ramps (up to 10 frames, at most a third of the expression)."""
    n = len(classes)
    out = np.empty(n, np.float32)
    edges = np.flatnonzero(np.diff(classes)) + 1
    for a, b in zip(np.r_[0, edges], np.r_[edges, n], strict=True):
        apex = rng.uniform(0.5, 1.5)
        ramp = max(1, min(10, (b - a) // 3))
        t = np.arange(b - a)
        out[a:b] = apex * np.minimum(1.0, np.minimum(t + 1, b - a - t) / ramp)
    return out


def unlabelled_mask(n: int, share: float, rng: np.random.Generator) -> np.ndarray:
    """Long stretches (median 300 frames) marked -1, about ``share`` of the frames."""
    mask = np.zeros(n, bool)
    i = int(rng.integers(0, 400))
    while i < n and share > 0:
        k = int(rng.lognormal(np.log(300), 0.7))
        if rng.random() < share:
            mask[i:i + k] = True
        i += k
    return mask


def missing_runs(n: int, share: float, rng: np.random.Generator) -> np.ndarray:
    """Present flags: runs (median 15 frames) without a face, about ``share`` of the frames."""
    present = np.ones(n, bool)
    target = int(share * n)
    while target > 0 and (~present).sum() < target:
        k = int(np.clip(rng.lognormal(np.log(15), 1.0), 1, n // 4 + 1))
        a = int(rng.integers(0, max(1, n - k)))
        present[a:a + k] = False
    if not present.any():
        present[0] = True
    return present


def nearest_fill(x: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Rows without a face take the temporally nearest row with one (featurizer's fill)."""
    idx = np.flatnonzero(present)
    pos = np.searchsorted(idx, np.arange(len(x))).clip(1, len(idx) - 1) if len(idx) > 1 else None
    if pos is None:
        return np.repeat(x[idx[:1]], len(x), axis=0)
    left, right = idx[pos - 1], idx[pos]
    nearest = np.where(np.abs(np.arange(len(x)) - left) <= np.abs(right - np.arange(len(x))), left, right)
    return x[nearest]


def ar1(n: int, d: int, rho: float, rng: np.random.Generator) -> np.ndarray:
    """Stationary AR(1) noise with unit variance along axis 0."""
    e = rng.standard_normal((n, d)) * np.sqrt(1 - rho**2)
    y, _ = lfilter([1.0], [1.0, -rho], e, axis=0, zi=rng.standard_normal((1, d)) * rho)
    return y


def feature_rows(classes: np.ndarray, strength: np.ndarray, protos: np.ndarray, spec: CorpusSpec,
                 rng: np.random.Generator) -> np.ndarray:
    """(n, d) rows of one subject: offset + drift + intensity * prototype + noise."""
    n, d = len(classes), protos.shape[1]
    offset = rng.standard_normal(d) * spec.subject_offset
    rho_drift = np.exp(-1.0 / spec.drift_frames)
    drift = ar1(n, d, rho_drift, rng) * spec.drift
    noise = (np.sqrt(spec.correlated_noise) * ar1(n, d, spec.noise_corr, rng)
             + np.sqrt(1 - spec.correlated_noise) * rng.standard_normal((n, d)))
    return offset + drift + strength[:, None] * protos[classes] + noise


def subject_protos(shared: np.ndarray, spread: float, rng: np.random.Generator) -> np.ndarray:
    """A subject's own prototypes: the shared ones, partly replaced by its own (Neutral stays 0)."""
    own = rng.standard_normal(shared.shape) * shared.std()
    p = np.sqrt(1 - spread**2) * shared + spread * own
    p[0] = 0.0
    return p


def track_names(n_tracks: int, pair_share: float, rng: np.random.Generator) -> list[list[str]]:
    """Source videos, each a list of one or two track names in the Aff-Wild2 style."""
    videos: list[list[str]] = []
    count, k = 0, 1
    while count < n_tracks:
        res = ["1280x720", "1920x1080", "640x360"][int(rng.integers(0, 3))]
        base = f"{k}-30-{res}" if rng.random() < 0.7 else f"video{k}"
        if count + 2 <= n_tracks and rng.random() < pair_share:
            videos.append([f"{base}_left", f"{base}_right"])
        else:
            videos.append([base])
        count += len(videos[-1])
        k += 1
    return videos


@dataclass
class SyntheticTrack:
    name: str
    split: str
    labels: np.ndarray  # (n,) int8, -1 = unannotated
    visual: np.ndarray  # (n, visual_dim) float32, rows without a face filled from the nearest one
    present: np.ndarray  # (n,) bool, a face was found
    audio: np.ndarray  # (n, audio_dim) float32, shared by the faces of one video
    source_video: str
    va: np.ndarray | None = None  # (n, 2) float32, NaN unannotated; None: the track has no VA file
    au: np.ndarray | None = None  # (n, 12) int8, -1 unannotated; None: no AU file


def generate(spec: CorpusSpec) -> Iterator[SyntheticTrack]:
    """The corpus's tracks, one at a time (nothing written)."""
    rng = np.random.default_rng(spec.seed)
    videos = track_names(spec.n_tracks, spec.pair_share, rng)
    order = rng.permutation(len(videos))
    n_val = max(1, round(spec.val_share * len(videos)))
    split_of = {i: "Validation_Set" if r < n_val else "Train_Set" for r, i in enumerate(order)}
    weights = rng.lognormal(0.0, 0.6, len(videos))
    lengths = np.maximum(150, np.round(weights / weights.sum() * spec.frames
                                       / np.mean([len(v) for v in videos]))).astype(int)
    vis_shared = rng.standard_normal((8, spec.visual_dim)) * spec.gain
    aud_shared = rng.standard_normal((8, spec.audio_dim)) * spec.audio_gain
    aud_spec = replace(spec, correlated_noise=0.2)
    proj = st.projection(spec.visual_dim, spec.seed)
    annotates = st.task_videos(split_of, spec.va_share, spec.au_share, spec.seed)
    for v, names in enumerate(videos):
        n = int(lengths[v])
        audio = None
        for face, name in enumerate(names):
            classes = expression_runs(n, rng)
            strength = intensity(classes, rng)
            vis = feature_rows(classes, strength, subject_protos(vis_shared, spec.subject_spread, rng), spec, rng)
            trng = st.video_rng(spec.seed, v, face)
            z = st.latents(n, spec.task_frames, trng)
            if spec.task_gain:
                vis = vis + spec.task_gain * (z @ proj)
            va = au = None
            if v in annotates["va"]:
                va = np.where(unlabelled_mask(n, spec.unlabelled, trng)[:, None], np.nan,
                              st.va_values(classes, strength, z)).astype(np.float32)
            if v in annotates["au"]:
                au = np.where(unlabelled_mask(n, spec.unlabelled, trng)[:, None], -1,
                              st.au_values(classes, strength, z)).astype(np.int8)
            present = missing_runs(n, spec.missing, rng)
            if audio is None:  # the video's sound: from its first face's expressions
                audio = feature_rows(classes, strength, subject_protos(aud_shared, spec.subject_spread, rng),
                                     aud_spec, rng).astype(np.float32)
            labels = np.where(unlabelled_mask(n, spec.unlabelled, rng), -1, classes).astype(np.int8)
            video = names[0].rsplit("_", 1)[0] if len(names) > 1 else name
            yield SyntheticTrack(name, split_of[v], labels, nearest_fill(vis, present).astype(np.float32),
                                 present, audio, video, va, au)


def make_corpus(root: str | Path, spec: CorpusSpec = SIZES["small"]) -> Corpus:
    """Write the corpus below ``root`` (``features.zarr``, ``annotations/`` (EXPR), ``VA_Set/``,
    ``AU_Set/``); returns its facts."""
    root = Path(root)
    store = FeatureStore(root / "features.zarr")
    corpus = Corpus(root, root / "features.zarr", root / "annotations", spec,
                    features={"visual": spec.visual_dim, "audio": spec.audio_dim})
    for tr in generate(spec):
        n = len(tr.labels)
        write_annotation(corpus.labels / tr.split / f"{tr.name}.txt", tr.labels)
        store.write_timeline(tr.name, np.arange(n) / FPS, tr.present,
                             {"source_video": f"{tr.source_video}.mp4", "fps": FPS}, overwrite=True)
        for feat, values, present in (("visual", tr.visual, tr.present), ("audio", tr.audio, np.ones(n, bool))):
            store.write_feature(tr.name, feat, values, present,
                                {"extractor": f"synthetic-{feat}", "modality": feat,
                                 "recipe_version": "synthetic-1", "timing": {"kind": "per_frame"}})
        corpus.tracks[tr.name] = tr.split
        corpus.label_arrays[tr.name] = tr.labels
        if tr.va is not None:
            write_va_annotation(corpus.va_labels / tr.split / f"{tr.name}.txt", tr.va)
            corpus.va_arrays[tr.name] = tr.va
        if tr.au is not None:
            write_au_annotation(corpus.au_labels / tr.split / f"{tr.name}.txt", tr.au)
            corpus.au_arrays[tr.name] = tr.au
    return corpus


def class_shares(corpus: Corpus) -> dict[str, float]:
    """Share of each class among the labelled frames (a check on the generator)."""
    y = np.concatenate(list(corpus.label_arrays.values()))
    counts = np.bincount(y[y >= 0], minlength=8)
    return dict(zip(EXPR_CLASSES, (counts / max(1, counts.sum())).tolist(), strict=True))
