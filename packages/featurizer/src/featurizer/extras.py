"""Which optional parts of featurizer are installed (``featurizer[extract|models|serve|ray|all]``).

The base install is the import-light core; commands that need an extra say which one, at once,
before importing anything heavy.
"""

from __future__ import annotations

import importlib.util

from .errors import FeaturizerError

EXTRAS: dict[str, tuple[str, ...]] = {
    "extract": ("av", "torch", "torchaudio", "cv2", "opensmile", "scipy", "onnxruntime", "retinaface",
                "facenet_pytorch"),
    "models": ("transformers", "timm", "speechbrain", "torchvggish", "onnxruntime", "onnx"),
    "serve": ("fastapi", "uvicorn", "multipart", "anyascii"),
    "ray": ("ray",),
}


def missing_extras(extra: str) -> list[str]:
    """The modules of ``extra`` (``"extract"``, ``"models"``, ``"serve"``, ``"ray"``) not installed."""
    return [m for m in EXTRAS[extra] if importlib.util.find_spec(m) is None]


def require(extra: str, what: str) -> None:
    """Raise a one-line error naming ``what`` needs the ``extra`` and how to install it."""
    gone = missing_extras(extra)
    if gone:
        raise FeaturizerError(what, f"needs featurizer's {extra!r} extra (not installed: {', '.join(gone)})",
                              f"pip install 'featurizer[{extra}]' (or 'featurizer[all]')")
