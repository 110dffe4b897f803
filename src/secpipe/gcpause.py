"""No cyclic garbage collection while secpipe builds large trees that hold no cycle.

Decoding a report (`json.loads`) and writing the run's files make hundreds of thousands of
dicts, lists and tuples: CPython's cyclic collector runs every 50,000 of them (the run's
threshold, `cli.main._calm_gc`) and walks them all, though none is part of a cycle. At 50,000
findings those collections cost about 1.5 s of CPU, a third of it while writing the outputs.
Pausing the collector there changes no result: objects without cycles are freed by reference
counting as always, and a cycle made meanwhile (an exception's traceback) is collected by the
next collection after the pause.

The collector is process-wide and tools are parsed in threads, so pauses are counted: the
collector runs again when the last pause ends, and only if it ran before the first began.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from typing import Iterator

_LOCK = threading.Lock()
_STATE = {"pauses": 0, "was_enabled": False}


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """No cyclic collection inside (nested and concurrent pauses allowed)."""
    with _LOCK:
        if _STATE["pauses"] == 0:
            _STATE["was_enabled"] = gc.isenabled()
            gc.disable()
        _STATE["pauses"] += 1
    try:
        yield
    finally:
        with _LOCK:
            _STATE["pauses"] -= 1
            if _STATE["pauses"] == 0 and _STATE["was_enabled"]:
                gc.enable()


__all__ = ["paused"]
