"""How far an extractor's rows at ``--precision auto`` (bf16 where the device has it) may be from
its fp32 rows: the largest row-wise relative difference ``|bf16 - fp32| / |fp32|`` per family,
documented in docs/extractors.md ("bf16 against fp32") and checked by tests/cuda and bench/gpu.py.

Measured on this project's CPU (AMX bf16, torch 2.11) with real-size architectures and random
weights (bench/gpu.py's extraction rows, 60 s of audio / 64 crops); the bound is about twice the
largest measured, so it holds on a GPU's bf16 (which accumulates in fp32 as well) and flags a
kernel that returns garbage (like oneDNN's grouped Conv1d with < 16 channels per group: 110%).
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

BF16_TOLERANCE = {"audio": 0.05, "cnn": 0.05, "vit": 0.05}


def family(name: str) -> str:
    return FAMILY.get(name, FAMILY.get(name.partition(":")[0], "cnn"))
