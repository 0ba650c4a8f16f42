"""The ``featurizer extract`` command that makes missing features (exprnet never runs it itself)."""

from __future__ import annotations

import shlex
from collections.abc import Sequence

VIDEOS = "VIDEOS"  # placeholder for the video folder when the caller does not know it


def extract_command(store: str, features: Sequence[str], labels: str | None = None,
                    videos: str | None = None, faces: str | None = None) -> str:
    """One shell-quoted command line; ``VIDEOS`` stands for the video folder when not given."""
    parts = ["featurizer", "extract", videos or VIDEOS]
    if labels:
        parts += ["--labels", str(labels)]
    if faces:
        parts += ["--faces", str(faces)]
    parts += ["--model", ",".join(features), "--out", str(store)]
    return shlex.join(parts)
