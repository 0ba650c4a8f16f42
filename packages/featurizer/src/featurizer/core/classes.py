"""The Aff-Wild2 expression classes, in label order (label k is ``EXPR_CLASSES[k]``)."""

from __future__ import annotations

EXPR_CLASSES: tuple[str, ...] = ("Neutral", "Anger", "Disgust", "Fear", "Happiness", "Sadness",
                                 "Surprise", "Other")
N_CLASSES = len(EXPR_CLASSES)
HEADER = ",".join(EXPR_CLASSES)  # line 1 of every annotation file
UNLABELLED = -1
