"""The VA and AU column names (``featurizer.core.classes`` where it has them)."""

from __future__ import annotations

try:
    from featurizer.core.classes import AU_NAMES, VA_NAMES
except ImportError:  # a core without issue 36's label arrays: the same names
    VA_NAMES: tuple[str, ...] = ("valence", "arousal")  # type: ignore[no-redef]
    AU_NAMES: tuple[str, ...] = ("AU1", "AU2", "AU4", "AU6", "AU7", "AU10", "AU12", "AU15",  # type: ignore[no-redef]
                                 "AU23", "AU24", "AU25", "AU26")

N_VA, N_AU = len(VA_NAMES), len(AU_NAMES)

__all__ = ["AU_NAMES", "N_AU", "N_VA", "VA_NAMES"]
