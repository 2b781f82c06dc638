"""glibc malloc settings for CPU training with large activations.

glibc serves every allocation above its mmap threshold (dynamic, at most 32 MiB on 64-bit) with
a fresh ``mmap`` and unmaps it on free, so each training step faults in and zeroes its large
activations again: on a segmentation step at 512x1024 that is a quarter of the time
(docs/benchmark.md, "Findings"). :func:`keep_freed_memory` sets, from inside the process, what
``MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=... MALLOC_TOP_PAD_=...`` would set from the
environment: no mmap'd chunks, no trimming of the heap top, and a padded heap growth, so that
freed memory is reused instead of returned. The cost: the process keeps its peak heap.
"""
from __future__ import annotations

import ctypes
import ctypes.util
from typing import Optional

# mallopt parameters (glibc malloc.h)
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_MAX = -1, -2, -4
TRIM_THRESHOLD = 2 ** 40  # never trim the heap top
TOP_PAD = 1 << 30  # grow the heap by 1 GiB at a time

_applied: Optional[bool] = None


def keep_freed_memory() -> bool:
    """Apply the settings once per process.

    Returns:
        True when glibc accepted all three (Linux/glibc); False elsewhere (musl, macOS,
        Windows), where nothing is changed.
    """
    global _applied
    if _applied is None:
        try:
            libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
            mallopt = libc.mallopt
        except (OSError, AttributeError):
            _applied = False
        else:
            mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
            mallopt.restype = ctypes.c_int
            # mallopt takes an int: the trim threshold is capped at the largest one.
            ok = [mallopt(M_MMAP_MAX, 0), mallopt(M_TOP_PAD, TOP_PAD),
                  mallopt(M_TRIM_THRESHOLD, min(TRIM_THRESHOLD, 2 ** 31 - 1))]
            _applied = all(r == 1 for r in ok)
    return _applied
