"""glibc's malloc told to give memory back during a run.

A run's big buffers (tool reports of megabytes, their scrubbed copies, a report searched a
window at a time) are freed long before the run ends, but glibc keeps what it served from its
heaps: the mmap threshold rises after each large free (up to 32 MB, so later reports come from
a heap that does not shrink), and each tool thread may get an arena of its own. At 50,000
findings the process's peak RSS was 55 MB (15%) above what the same run reaches with a fixed
256 KB mmap threshold, trimming at 256 KB and two arenas (bench/own_cpu.py). The same settings
as the MALLOC_* environment variables, made from inside: an explicit MALLOC_* variable wins
(nothing is changed then), and other C libraries are left alone.
"""

from __future__ import annotations

import os
import sys

# mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
_SETTINGS = ((_M_MMAP_THRESHOLD, 256 * 1024), (_M_TRIM_THRESHOLD, 256 * 1024),
             (_M_ARENA_MAX, 2))


def _glibc_function(name: str):
    """`name` of this process's glibc (ctypes), None under another C library."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):     # glibc's answer; musl has none
            return None
    except (ValueError, OSError):
        return None
    import ctypes

    try:
        return getattr(ctypes.CDLL(None), name)
    except (OSError, AttributeError):
        return None


def tune_for_run() -> bool:
    """Apply the settings above to this process; whether they were applied."""
    if any(k.startswith("MALLOC_") for k in os.environ):
        return False
    mallopt = _glibc_function("mallopt")
    if mallopt is None:
        return False
    import ctypes

    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success; a refused setting leaves glibc's default, which is safe
    return all([mallopt(param, value) == 1 for param, value in _SETTINGS])


def give_back() -> bool:
    """glibc's malloc_trim(0): every whole free page inside the heaps goes back to the system,
    not only the top that the trim threshold gives back. Whether it was asked (glibc only).

    For the end of a big phase whose blocks were interleaved with others': a run's recording
    in its hub leaves ~40 MB of free holes among the heap's live blocks at 50,000 findings
    (SQLite's page cache, freed by the hub's close, and each part's documents and texts), and
    the reports written next take fresh memory from pymalloc's arenas, on top of them."""
    trim = _glibc_function("malloc_trim")
    if trim is None:
        return False
    import ctypes

    trim.argtypes = (ctypes.c_size_t,)
    trim.restype = ctypes.c_int
    trim(0)         # 1 if memory was released, 0 if none could be: both are fine
    return True


__all__ = ["give_back", "tune_for_run"]
