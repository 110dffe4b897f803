"""`secpipe run` asks glibc to give freed memory back (secpipe.malloc_tune)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = "from secpipe.malloc_tune import tune_for_run; print(tune_for_run())"


def _probe(env: dict[str, str]) -> str:
    return subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                          text=True, check=True).stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux") or not os.confstr(
    "CS_GNU_LIBC_VERSION"), reason="glibc's mallopt only")
def test_applied_on_glibc_unless_a_malloc_variable_says_otherwise() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    assert _probe(env) == "True"
    # whoever set MALLOC_ARENA_MAX (or any MALLOC_ tunable) chose for themselves
    assert _probe({**env, "MALLOC_ARENA_MAX": "8"}) == "False"


def test_give_back_asks_glibc_and_nothing_else() -> None:
    """`give_back` (malloc_trim) runs on glibc and says so; elsewhere it does nothing."""
    from secpipe.malloc_tune import give_back

    glibc = sys.platform.startswith("linux") and bool(os.confstr("CS_GNU_LIBC_VERSION"))
    assert give_back() is glibc
