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
import heapq
import itertools
import threading
from typing import Iterator

_COND = threading.Condition()
_STATE = {"busy": False}   # a thread holds the turn
_WAITING: list[tuple[int, int]] = []   # (-weight, arrival): the heaviest first, then in order
_ARRIVAL = itertools.count()
_THREAD = threading.local()   # .depth: open turns() on this thread; .held: the turn is ours


def my_turn(weight: int = 0) -> None:
    """Wait until no other thread digests a tool's output, then hold the turn until the
    outermost `turns()` ends (held already, or outside `turns()`: nothing).

    `weight` (the raw reports' bytes) orders the threads waiting when the turn comes free:
    the heaviest first, the others in their order of arrival. Tools that end together (a
    cached run, tools of similar length) are digested largest first: each output's digest
    (its report decoded, its findings and values' automaton made) then sits on the findings
    of the smaller outputs digested before it, not the largest output's digest on everything
    else's findings (at 50,000 findings trufflehog3's 14 MB report digested last put the
    tools' turns at 139-141 MB, against 129-133 when it went first or second). A small
    output waiting beside a large one is digested after it (its stage judged later)."""
    if not getattr(_THREAD, "depth", 0) or getattr(_THREAD, "held", False):
        return
    ticket = (-weight, next(_ARRIVAL))
    with _COND:
        heapq.heappush(_WAITING, ticket)
        try:
            while _STATE["busy"] or _WAITING[0] != ticket:
                _COND.wait()
        except BaseException:   # an interrupt while waiting: the others go on without it
            _WAITING.remove(ticket)
            heapq.heapify(_WAITING)
            _COND.notify_all()
            raise
        heapq.heappop(_WAITING)
        _STATE["busy"] = True
    _THREAD.held = True


def not_my_turn() -> None:
    """Give the turn back early (before running a tool)."""
    if getattr(_THREAD, "held", False):
        _THREAD.held = False
        with _COND:
            _STATE["busy"] = False
            _COND.notify_all()


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
