"""secpipe.gcpause: the cyclic collector is off inside pauses, back on after the last one,
and left off when it was off before the first (nested, concurrent and failing pauses)."""

from __future__ import annotations

import gc
import threading

import pytest

from secpipe.gcpause import paused


@pytest.fixture(autouse=True)
def _collector_as_it_was():
    before = gc.isenabled()
    yield
    (gc.enable if before else gc.disable)()


def test_off_inside_on_after_even_when_the_body_raises() -> None:
    gc.enable()
    with paused():
        assert not gc.isenabled()
        with paused():
            assert not gc.isenabled()
        assert not gc.isenabled()   # the outer pause still holds
    assert gc.isenabled()
    with pytest.raises(KeyError):
        with paused():
            raise KeyError("x")
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    with paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_overlapping_pauses_of_threads_end_with_the_last() -> None:
    gc.enable()
    inside, release = threading.Event(), threading.Event()

    def other() -> None:
        with paused():
            inside.set()
            release.wait(10)

    thread = threading.Thread(target=other)
    with paused():
        thread.start()
        assert inside.wait(10)
    assert not gc.isenabled()   # the thread's pause outlives this one
    release.set()
    thread.join(10)
    assert gc.isenabled()
