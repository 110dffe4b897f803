"""CPython's cyclic garbage collector paused while a bulk import runs.

A bulk import allocates millions of small containers that all live until their transaction
is written (the checked documents, their rows and side rows), and the caller usually holds
the whole input as well. The collector's generation thresholds count those allocations and
keep scanning them, and its full collections walk every live object, the caller's documents
included: measured on `bench/hub_store.py`'s 10k import, 15-20 us of the store's ~170 us of
CPU per finding, more at 100k. Nothing on the import path depends on cycle collection
(documents, rows and tuples are freed by reference counting), so the collector is off for the
duration of `bulk_import` and back on, with one collection of the young generations, when
the last concurrent import ends. A process that turned the collector off itself keeps it off.
"""

from __future__ import annotations

import gc
import threading
from contextlib import contextmanager
from typing import Iterator

_lock = threading.Lock()
_active = 0
_paused = False      # whether the collector was on when the first import began (ours to restore)


@contextmanager
def paused() -> Iterator[None]:
    """No automatic cyclic collection inside the block (nests and overlaps across threads)."""
    global _active, _paused
    with _lock:
        if _active == 0:
            _paused = gc.isenabled()
            if _paused:
                gc.disable()
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            resume = _active == 0 and _paused
            if resume:
                _paused = False
                gc.enable()
        if resume:
            gc.collect(1)       # whatever cycles the import left, young ones only: cheap
