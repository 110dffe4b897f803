"""No cyclic garbage collection while secpipe builds large trees that hold no cycle.

Decoding a report (`json.loads`), writing the run's files and a hub's bulk import make hundreds
of thousands of dicts, lists and tuples: CPython's cyclic collector runs every 50,000 of them
(the run's threshold, `cli.main._calm_gc`) and walks them all again and again, though none is
part of a cycle and nothing is freed. At 50,000 findings those collections cost about 1.5 s of
a run's CPU, a third of it while writing the outputs; in a bulk import about 8% (0.19 s of
2.5 s at 10k, 1.8 s of 24 s at 100k). Pausing the collector there changes no result: objects
without cycles are freed by reference counting as always, and a cycle made meanwhile (an
exception's traceback, by any thread) is collected by the next collection after the pause.

The collector is process-wide while reports are parsed in threads and `hub serve` imports
concurrently, so pauses are counted (`secpipe.counted`): the collector runs again when the last
pause ends, and only if it ran before the first began.
"""

from __future__ import annotations

import gc

from secpipe.counted import CountedOverride


def _pause() -> bool:
    was_enabled = gc.isenabled()
    gc.disable()
    return was_enabled


def _resume(was_enabled: bool) -> None:
    if was_enabled:
        gc.enable()


# `with paused(): ...` runs the body with the cyclic GC disabled (see the module docstring)
paused = CountedOverride(_pause, _resume)

__all__ = ["paused"]
