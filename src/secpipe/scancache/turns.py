"""One tool's output digested at a time: its report decoded and parsed, scrubbed and saved by
the scan cache, its findings named.

The tools of a run run in parallel, and when several finish together (a cached run, tools of
similar length) their reports were decoded at once. Decoding a JSON report costs about five
times its bytes (trufflehog3's 14 MB report at 50,000 findings: about 60 MB of objects until
its findings are built), so at 50,000 findings reports decoded together added up at the
run's peak. That work is CPU under the GIL and gains nothing from running side by side; the
tools themselves (subprocesses) still run together. Inside `turns()` (a tool's scan and
digest), a thread takes the turn when its tool's output is in (`my_turn`, after the scan)
and gives it back when the outermost `turns()` ends, or before running a tool again
(`not_my_turn`), so the turn is never held while a tool runs. Outside `turns()` both are
no-ops: a caller that never opened one (a test calling `fresh_scan`) cannot keep it.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Iterator

_TURN = threading.Lock()
_THREAD = threading.local()   # .depth: open turns() on this thread; .held: the turn is ours


def my_turn() -> None:
    """Wait until no other thread digests a tool's output, then hold the turn until the
    outermost `turns()` ends (held already, or outside `turns()`: nothing)."""
    if getattr(_THREAD, "depth", 0) and not getattr(_THREAD, "held", False):
        _TURN.acquire()
        _THREAD.held = True


def not_my_turn() -> None:
    """Give the turn back early (before running a tool)."""
    if getattr(_THREAD, "held", False):
        _THREAD.held = False
        _TURN.release()


@contextlib.contextmanager
def turns() -> Iterator[None]:
    """A tool's scan and digest: a turn `my_turn` takes inside is given back when the
    outermost one ends, whatever happens."""
    _THREAD.depth = getattr(_THREAD, "depth", 0) + 1
    try:
        yield
    finally:
        _THREAD.depth -= 1
        if not _THREAD.depth:
            not_my_turn()


__all__ = ["my_turn", "not_my_turn", "turns"]
