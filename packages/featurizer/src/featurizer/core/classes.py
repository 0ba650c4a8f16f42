"""The Aff-Wild2 tasks and their label names: the eight expression classes (label k is
``EXPR_CLASSES[k]``), valence/arousal, and the twelve action units, in file column order."""

from __future__ import annotations

EXPR_CLASSES: tuple[str, ...] = ("Neutral", "Anger", "Disgust", "Fear", "Happiness", "Sadness",
                                 "Surprise", "Other")
N_CLASSES = len(EXPR_CLASSES)
HEADER = ",".join(EXPR_CLASSES)  # line 1 of every EXPR annotation file
UNLABELLED = -1

VA_NAMES: tuple[str, ...] = ("valence", "arousal")
VA_HEADER = ",".join(VA_NAMES)  # line 1 of every VA annotation file
VA_UNLABELLED = -5.0  # the file marker (both columns); arrays hold NaN instead

AU_NAMES: tuple[str, ...] = ("AU1", "AU2", "AU4", "AU6", "AU7", "AU10", "AU12", "AU15", "AU23", "AU24",
                             "AU25", "AU26")
AU_HEADER = ",".join(AU_NAMES)  # line 1 of every AU annotation file

TASKS: tuple[str, ...] = ("expr", "va", "au")
TASK_HEADERS = {"expr": HEADER, "va": VA_HEADER, "au": AU_HEADER}
TASK_FOLDERS = {"expr": "EXPR_Set", "va": "VA_Set", "au": "AU_Set"}  # Aff-Wild2's folder names
