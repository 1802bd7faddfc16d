"""Process-wide memory behaviour for a service that handles messages of tens of megabytes."""

from __future__ import annotations

import ctypes

# glibc's M_MMAP_THRESHOLD parameter (malloc.h).
_M_MMAP_THRESHOLD = -3
# Blocks of this size or more get mappings of their own, handed back to the system when freed.
MMAP_THRESHOLD = 1024 * 1024


def give_back_large_blocks() -> bool:
    """Keep glibc from raising its mmap threshold as large blocks come and go.

    By default glibc raises the threshold to the size of each large block freed (up to
    32 MB): after one 25 MB message, the copies of the next ones (the sqlite3 module's,
    SQLite's, the parser's) come from the heap, which rarely shrinks, so each copy freed
    stays counted and the next step's copies pile up on top of it (the 25 MB message: 209
    against 147 MB at its peak, 67 against 2 MB kept afterwards). A fixed threshold turns
    that off. Returns False where there is no glibc to tell (musl, macOS): nothing to do.
    """
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is None:
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
