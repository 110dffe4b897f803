"""The digest turn (scancache.turns) goes to the heaviest output waiting, then in order of
arrival; a waiter interrupted leaves the queue to the others; and a run whose tools end
together still digests every tool, fails closed on an unparsable report and says queued,
running and post-processing in that order.

Ordering is forced, not timed: the waiters are all queued (`_WAITING`) before the holder lets
the turn go.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from secpipe.pipeline.api import RunRequest, run_pipeline
from secpipe.pipeline.runner import Events
from secpipe.scancache.turns import my_turn, turns
from tests.test_schedule import _exe

turns_module = sys.modules["secpipe.scancache.turns"]
WAIT = 10.0


def _queued(n: int) -> None:
    deadline = time.monotonic() + WAIT
    while len(turns_module._WAITING) < n:
        assert time.monotonic() < deadline, "the waiters never queued"
        time.sleep(0.005)


def _waiter(weight: int, order: list[int]) -> threading.Thread:
    def run() -> None:
        with turns():
            my_turn(weight)
            order.append(weight)
    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_the_heaviest_waiting_output_goes_first_then_in_arrival_order() -> None:
    order: list[int] = []
    with turns():
        my_turn()
        threads = []
        for n, weight in enumerate([5, 100, 20, 5, 100]):
            threads.append(_waiter(weight, order))
            _queued(n + 1)   # arrival order is the order started
    for thread in threads:
        thread.join(WAIT)
    assert order == [100, 100, 20, 5, 5]
    assert not turns_module._WAITING and not turns_module._STATE["busy"]


def test_outside_turns_and_held_twice_nothing_waits() -> None:
    my_turn(10)   # outside turns(): a no-op
    assert not turns_module._STATE["busy"]
    with turns():
        my_turn(1)
        my_turn(2)   # held already
        assert turns_module._STATE["busy"]
    assert not turns_module._STATE["busy"]


def test_a_waiter_interrupted_leaves_the_queue_to_the_others() -> None:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals reach the main thread only")
    order: list[int] = []
    release = threading.Event()

    def holder() -> None:
        with turns():
            my_turn()
            assert release.wait(WAIT)

    held = threading.Thread(target=holder)
    held.start()
    while not turns_module._STATE["busy"]:
        time.sleep(0.005)
    other = _waiter(1, order)
    _queued(1)
    main = threading.get_ident()
    kill = threading.Timer(0.2, lambda: signal.pthread_kill(main, signal.SIGINT))
    kill.start()
    with pytest.raises(KeyboardInterrupt):
        with turns():
            my_turn(1000)   # the heaviest: it would go first
    assert len(turns_module._WAITING) == 1   # the other one only
    release.set()
    held.join(WAIT)
    other.join(WAIT)
    assert order == [1] and not turns_module._WAITING and not turns_module._STATE["busy"]


def _tool(name: str, version: str, report: str, go: Path) -> str:
    """A fake scanner that waits for `go`, then writes `report` (so the tools end together)."""
    return f"""#!/bin/sh
[ "$1" = --version ] && {{ echo "{version}"; exit 0; }}
out=
while [ $# -gt 0 ]; do [ "$1" = --output ] && out=$2; shift; done
i=0; while [ ! -e {go} ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done
if [ -n "$out" ]; then printf '%s' '{report}' > "$out"; else printf '%s' '{report}'; fi
"""


def test_tools_ending_together_are_all_digested_and_an_unparsable_one_fails_closed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "Dockerfile").write_text("FROM alpine:3.20\n")
    (root / "secpipe.yml").write_text("""version: 1
stages:
  dockerfile: {tools: [hadolint]}
  secrets: {tools: [trufflehog3, detect-secrets], fail_on: low}
tools:
  trufflehog3: {history: false}
""")
    go = tmp_path / "go"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    big = json.dumps([{"rule": {"id": "x", "message": "m", "severity": "LOW"},
                       "path": "a.py", "line": str(i), "secret": f"made-up-token-{i:04d}-zz",
                       "context": {},
                       "branch": "", "commit": "", "date": "", "id": ""} for i in range(1, 40)])
    _exe(bin_dir / "trufflehog3", _tool("trufflehog3", "trufflehog3 3.0.10", big, go))
    _exe(bin_dir / "hadolint", _tool("hadolint", "Haskell Dockerfile Linter 2.12.0", "[]", go))
    _exe(bin_dir / "detect-secrets", _tool("detect-secrets", "1.5.0", "{not json", go))
    monkeypatch.setenv("SECPIPE_TOOLS_DIR", str(tmp_path / "tools"))
    monkeypatch.setenv("SECPIPE_SCAN_CACHE", "off")   # every tool scans: each output weighed
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)}
    log: list[tuple] = []
    weights: list[int] = []
    real = turns_module.my_turn

    def recorded(weight: int = 0) -> None:
        if weight:
            weights.append(weight)
        real(weight)

    monkeypatch.setattr(turns_module, "my_turn", recorded)
    monkeypatch.setattr("secpipe.scancache.my_turn", recorded)

    def started(stage: str, tool: str) -> None:
        log.append(("started", tool))
        if sum(1 for kind, _ in log if kind == "started") == 3:
            go.touch()   # every tool runs: they end together

    events = Events(tool_queued=lambda s, t: log.append(("queued", t)), tool_started=started,
                    tool_finished=lambda r: log.append(("finished", r.tool)),
                    stage_finished=lambda r: log.append(("stage", r.name)),
                    phase=lambda name: log.append(("phase", name)))
    run = run_pipeline(RunRequest(root=root, out_dir=tmp_path / "out", env=env, jobs=3,
                                  use_hub=False), events=events)
    assert run.exit_code == 2   # detect-secrets' report is unparsable: fail closed
    stages = {s.name: s for s in run.stages}
    assert stages["secrets"].status.value == "error"
    tools = {t.tool: t for s in run.stages for t in s.tools}
    assert tools["detect-secrets"].status.value == "error"
    assert "unparsable" in (tools["detect-secrets"].error or "")
    assert tools["trufflehog3"].status.value == "ok", tools["trufflehog3"].error
    assert tools["hadolint"].status.value == "ok", tools["hadolint"].error
    assert len(tools["trufflehog3"].findings) == 39
    assert sorted(weights, reverse=True)[0] == len(big)   # each output weighed by its bytes
    for tool in ("trufflehog3", "hadolint", "detect-secrets"):
        assert log.index(("queued", tool)) < log.index(("started", tool)) \
            < log.index(("finished", tool))
    phases = [i for i, e in enumerate(log) if e[0] == "phase"]
    assert phases and min(phases) > max(i for i, e in enumerate(log) if e[0] == "finished")
    assert {name for kind, name in log if kind == "stage"} == {"dockerfile", "secrets"}
    assert not turns_module._WAITING and not turns_module._STATE["busy"]
