"""Real-size architectures with random weights: they build, run, and report the declared dims.

Heavy (several hundred MB of parameters, minutes on 2 CPU cores): ``pytest -m heavy``.
"""

from __future__ import annotations

import numpy as np
import pytest
from featurizer import create_extractor, describe_model
from featurizer.media.decode import Audio

pytestmark = pytest.mark.heavy

NAMES = ["wav2vec", "wav2vec:mean4", "hubert", "hubert:last", "ecapatdnn", "vggish", "densenet", "mae",
         "mobilenet", "ires100", "fau", "emotieff-b0", "emotieff-b2", "emotieff-mbf", "emotieff-b0:scores",
         "mae-face", "dinov2", "dinov2:mean", "clip", "clip:pooled", "whisper", "wav2vec2-emotion",
         "wav2vec2-emotion-adv"]


@pytest.mark.parametrize("name", NAMES)
def test_real_size_architecture_reports_declared_dim(name):
    ex = create_extractor(name, weights="random")
    spec = describe_model(name)
    assert ex.dim == spec.dim and ex.timing == spec.timing and ex.weights_sha256 is None
    rng = np.random.default_rng(0)
    wave = (0.1 * rng.standard_normal(16000 * 3)).astype(np.float32)
    if ex.modality == "visual":
        out = ex.extract_faces(rng.integers(0, 255, (3, 112, 112, 3), dtype=np.uint8))
        assert out.shape == (3, ex.dim)
    elif ex.timing.kind == "frame_window":
        out = ex.extract_windows(wave, 16000, np.array([0.5, 1.5, 2.5]))
        assert out.shape == (3, ex.dim)
    elif spec.name == "whisper":
        (out,) = ex.extract_audio([wave], 16000)
        assert out.shape == (150, ex.dim)  # 3 s / 20 ms
    else:
        (out,) = ex.extract_audio([wave], 16000)
        assert out.shape == (len(ex.timing.centres(len(out))), ex.dim) and len(out) > 0
    assert np.isfinite(out).all() and np.abs(out).sum() > 0


def test_real_hubert_on_long_audio_has_one_row_per_hop():
    from featurizer.extraction.audio_rows import hop_rows

    ex = create_extractor("hubert", weights="random")
    wave = (0.1 * np.random.default_rng(1).standard_normal(16000 * 45 + 321)).astype(np.float32)
    rows, centres = hop_rows(ex, Audio(wave, 16000, 0.0))
    assert rows.shape == ((len(wave) - 400) // 320 + 1, 512)
    np.testing.assert_allclose(np.diff(centres), 0.02)
