"""`gcpause.paused`: the collector is off inside (also across overlapping threads) and back
to what it was after; a process that turned it off keeps it off."""

from __future__ import annotations

import gc
import threading

from secpipe.hub import gcpause


def test_paused_nests_across_threads_and_restores() -> None:
    assert gc.isenabled()
    inside = threading.Event()
    release = threading.Event()
    seen: list[bool] = []

    def other() -> None:
        with gcpause.paused():
            inside.set()
            release.wait(10)
            seen.append(gc.isenabled())

    with gcpause.paused():
        t = threading.Thread(target=other)
        t.start()
        assert inside.wait(10)
        assert not gc.isenabled()
    assert not gc.isenabled()          # the other import still runs
    release.set()
    t.join(10)
    assert seen == [False]
    assert gc.isenabled()


def test_a_disabled_collector_stays_disabled() -> None:
    gc.disable()
    try:
        with gcpause.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_an_error_inside_restores_the_collector() -> None:
    try:
        with gcpause.paused():
            raise KeyError("x")
    except KeyError:
        pass
    assert gc.isenabled()
