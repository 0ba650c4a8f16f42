"""An Aff-Wild2-shaped corpus of real media the tests encode themselves: a real face photograph
moving like a talking head (scikit-image's astronaut, matplotlib's Grace Hopper) and real speech
(eSpeak NG), in four short videos with annotation files under Train_Set/ and Validation_Set/;
and the store `featurizer extract` makes of it, shared by the chain and the deployment tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from featurizer.cli import app as featurizer_app
from featurizer.core.annotations import write_annotation
from featurizer.demo import encode_video
from typer.testing import CliRunner

from ..featurizer.conftest_deep import save_speech_folder
from ..featurizer.face_clips import talking_head
from ..speech import speak

MODELS = "egemaps,fbank,hog,hubert"
FPS = 25
N = 40  # frames per video (1.6 s)
LINES = {
    "clip1": ("astronaut", "Train_Set", "Good morning, how are you today?"),
    "clip2": ("hopper", "Train_Set", "I am quite surprised to hear that."),
    "clip3": ("astronaut", "Train_Set", "That makes me rather happy, thanks."),
    "clip4": ("hopper", "Validation_Set", "Well, I do not like this at all."),
}


@dataclass
class Corpus:
    root: Path
    videos: Path
    labels: Path
    hubert: Path  # a tiny HuBERT saved as a Hugging Face folder (the real format)
    labels_of: dict[str, np.ndarray]


def label_runs(n: int, rng: np.random.Generator) -> np.ndarray:
    out, i = np.empty(n, np.int8), 0
    while i < n:
        k = int(rng.integers(8, 25))
        out[i:i + k] = -1 if rng.random() < 0.1 else rng.integers(0, 8)
        i += k
    return out


@pytest.fixture(scope="package")
def corpus(tmp_path_factory) -> Corpus:
    root = tmp_path_factory.mktemp("e2e")
    rng = np.random.default_rng(0)
    labels_of = {}
    for k, (track, (face, split, line)) in enumerate(LINES.items()):
        clip = talking_head(N, face, amplitude=0.7)
        voice = speak(line)[: int(N / FPS * 16_000)]
        encode_video(root / "videos" / f"{track}.mp4", clip.frames, FPS,
                     np.pad(voice, (0, max(0, int(N / FPS * 16_000) - len(voice)))))
        lab = label_runs(N, rng)
        lab[k % N] = k % 8  # every split holds labelled frames
        write_annotation(root / "annotations" / split / f"{track}.txt", lab)
        labels_of[track] = lab
    hubert = save_speech_folder(root / "hubert-tiny", "hubert")
    return Corpus(root, root / "videos", root / "annotations", hubert, labels_of)


runner = CliRunner()


def ok(app, *args: object) -> str:
    r = runner.invoke(app, [str(a) for a in args])
    assert r.exit_code == 0, f"{' '.join(map(str, args[:2]))} failed:\n{r.output}"
    return r.output


@pytest.fixture(scope="package")
def store(corpus: Corpus) -> Path:
    out = corpus.root / "features.zarr"
    ok(featurizer_app, "extract", corpus.videos, "--labels", corpus.labels, "--model", MODELS,
       "--weights", f"hubert={corpus.hubert}", "--out", out)
    return out
