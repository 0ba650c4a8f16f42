"""``vad``: Silero VAD's sequence ONNX from the silero-vad wheel, run by onnxruntime, against
silero's own streaming model and ``get_speech_timestamps`` on real speech (eSpeak NG) with pauses."""

from __future__ import annotations

import numpy as np
import pytest
from featurizer import create_extractor, extract
from featurizer.core.speech import speech_mask, speech_segments
from featurizer.core.store import FeatureStore

from ..speech import speech_with_pauses
from .conftest import FPS
from .face_clips import talking_head

SENTENCES = ["The quick brown fox jumps over the lazy dog.", "She sells sea shells by the sea shore.",
             "How much wood would a woodchuck chuck?", "I am happy to see you today.", "Please call Stella.",
             "We will meet at noon by the river.", "Nobody expected the rain."]
PAUSES = [0.35, 1.2, 0.6, 0.25, 1.5, 0.8, 0.7]


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    """Real speech with pauses of 0.25-1.5 s, low noise; and a video carrying it (the talking astronaut)."""
    from featurizer.demo import encode_video

    wave, spans = speech_with_pauses(SENTENCES, PAUSES)
    wave = wave + np.random.default_rng(0).normal(0, 0.003, len(wave)).astype(np.float32)
    n = int(len(wave) / 16_000 * FPS)
    video = encode_video(tmp_path_factory.mktemp("vad") / "speech.mp4", talking_head(n).frames, FPS, wave)
    return wave, spans, video


def silero_segments(wave: np.ndarray) -> list[dict]:
    import silero_vad
    import torch

    return silero_vad.get_speech_timestamps(torch.from_numpy(wave), silero_vad.load_silero_vad(), sampling_rate=16_000)


def in_segments(times: np.ndarray, segs: list[dict]) -> np.ndarray:
    out = np.zeros(len(times), bool)
    for s in segs:
        out |= (times * 16_000 >= s["start"]) & (times * 16_000 < s["end"])
    return out


def test_vad_probabilities_equal_silero_streaming_model(speech):
    import silero_vad
    import torch

    wave = speech[0]
    ex = create_extractor("vad")
    (rows,) = ex.extract_audio([wave], 16_000)
    want = silero_vad.load_silero_vad().audio_forward(torch.from_numpy(wave), 16_000).numpy().reshape(-1)
    assert rows.shape == (len(want), 1) == (-(-len(wave) // 512), 1)
    np.testing.assert_allclose(rows[:, 0], want, atol=1e-4)
    assert ex.timing.hop == 0.032 and ex.timing.offset == 0.016
    prov = ex.provenance()
    assert prov["columns"] == ["speech"] and prov["weights_kind"] == "public" and prov["runtime"] == "onnxruntime"


def test_speech_segments_follow_silero_rule_on_its_frames(speech):
    wave = speech[0]
    (rows,) = create_extractor("vad").extract_audio([wave], 16_000)
    centres = 0.016 + 0.032 * np.arange(len(rows))
    ours = speech_segments(rows[:, 0], centres, step=0.032)
    theirs = silero_segments(wave)
    assert len(ours) == len(theirs) >= len(SENTENCES) - 1
    for (a, b), s in zip(ours, theirs, strict=True):  # the same segments, within one 32 ms frame
        assert abs(a - s["start"] / 16_000) <= 0.032 and abs(b - s["end"] / 16_000) <= 0.032


def test_vad_per_label_frame_agrees_with_get_speech_timestamps(speech, tmp_path):
    wave, spans, video = speech
    rep = extract([video], "vad", str(tmp_path / "s.zarr"), dtype="float32")
    assert rep.ok, rep.problems
    f = FeatureStore(str(tmp_path / "s.zarr"), mode="r").read_feature("speech", "vad")
    times = np.arange(len(f.values)) / FPS
    assert f.present.all() and f.values.shape == (len(times), 1)
    from featurizer.media.decode import load_audio

    truth = in_segments(times, silero_segments(load_audio(video).samples))  # silero on the same decoded audio
    agree = (speech_mask(f.values[:, 0], times) == truth).mean()
    assert agree >= 0.97, agree
    spoken = np.zeros(len(times), bool)  # and where eSpeak spoke, by construction
    for a, b in spans:
        spoken |= (times >= a) & (times < b)
    assert (f.values[spoken, 0] >= 0.5).mean() > 0.8 and (f.values[~spoken, 0] < 0.5).mean() > 0.8
