"""Process-level memory setting, applied once at the CLI edge (and by the benchmark).

glibc keeps freed blocks below its *dynamic* mmap threshold (which grows up to 32 MiB) in its
heaps, so the many 1-30 MiB activation and gradient buffers of a training step fragment the heap
and the resident size keeps the high-water mark of every step (measured: ~0.8 GiB extra for the
paper's Transformer at 8 segments per batch). Fixing the threshold at 1 MiB serves such blocks
with mmap and gives them back on free; the cost is a page fault per fresh page (a few percent of
a step). No-op where glibc's ``mallopt`` is not available.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_MMAP_THRESHOLD = -3


def tune_allocator(mmap_threshold: int = 1 << 20) -> bool:
    """Fix glibc's mmap threshold; True if it was applied."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, int(mmap_threshold)))
    except (OSError, AttributeError):
        return False
