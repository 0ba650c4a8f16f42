"""How far an extractor's rows at ``--precision auto`` (bf16 where the device has it) may be from
its fp32 rows: the largest row-wise relative difference ``|bf16 - fp32| / |fp32|`` per family,
documented in docs/extractors.md ("bf16 against fp32") and checked by tests/cuda and bench/gpu.py.

Measured on this project's CPU (AMX bf16, torch 2.11) with real-size architectures and random
weights, largest / median: hubert:last 0.020 / 0.016 (2 s of audio), wav2vec 0.015 / 0.014 (3 s),
densenet 0.0052 / 0.0045 and mae 0.0084 / 0.0076 (16 crops), ires100 0.015 / 0.014 (48 crops,
docs/extractors.md); ECAPA-TDNN, VGGish and ONNX graphs stay fp32 under auto (0). Each bound is
2-3x the largest measured in its family, so that a GPU's bf16 (which also accumulates in fp32)
stays under it, while a kernel that returns garbage (oneDNN's bf16 grouped Conv1d with fewer than
16 channels per group: 110%) is caught. The GPU run prints its own figures (bench/gpu.py).
"""

from __future__ import annotations

FAMILY = {
    # speech transformers: a convolutional front end, then self-attention layers
    "hubert": "audio", "hubert:last": "audio", "wav2vec": "audio", "wav2vec:mean4": "audio",
    "whisper": "audio", "wav2vec2-emotion": "audio", "wav2vec2-emotion-adv": "audio",
    # convolutional networks (images, spectrograms, speaker embeddings)
    "densenet": "cnn", "mobilenet": "cnn", "ires100": "cnn", "fau": "cnn", "emotieff-b0": "cnn",
    "emotieff-b2": "cnn", "emotieff-mbf": "cnn", "emotieff-b0:scores": "cnn", "vggish": "cnn",
    "ecapatdnn": "cnn",
    # vision transformers
    "mae": "vit", "mae-face": "vit", "dinov2": "vit", "dinov2:mean": "vit", "clip": "vit", "clip:pooled": "vit",
}

BF16_TOLERANCE = {"audio": 0.05, "cnn": 0.03, "vit": 0.03}


def family(name: str) -> str:
    return FAMILY.get(name, FAMILY.get(name.partition(":")[0], "cnn"))
