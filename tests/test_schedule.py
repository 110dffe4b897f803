"""Scheduling that pays: the costliest tools start first, progress tells queued from running,
stage durations leave queueing out, and secpipe's own work after the tools is announced.

The tools are small fake executables (as in test_fail_closed.py); one slot (`jobs=1`) makes the
order of starts exact. Nothing here compares a time with a constant: only which interval
contains which.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from secpipe.pipeline.api import RunRequest, run_pipeline
from secpipe.pipeline.runner import Events
from secpipe.pipeline.schedule import LOW_PRIORITY, Priorities, default_jobs, longest_first

TRUFFLEHOG3 = """#!/bin/sh
[ "$1" = --version ] && { echo "trufflehog3 3.0.10"; exit 0; }
while [ $# -gt 0 ]; do [ "$1" = --output ] && out=$2; shift; done
sleep 2
echo '[]' > "$out"
"""
HADOLINT = """#!/bin/sh
[ "$1" = --version ] && { echo "Haskell Dockerfile Linter 2.12.0"; exit 0; }
echo '[]'
"""


def _exe(path: Path, body: str) -> None:
    path.write_text(body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict]:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "Dockerfile").write_text("FROM alpine:3.20\n")
    # the quick linter comes first in the file; the history scan must still start first
    (root / "secpipe.yml").write_text("""version: 1
stages:
  dockerfile: {tools: [hadolint]}
  secrets: {tools: [trufflehog3], fail_on: low}
tools:
  trufflehog3: {history: false}
""")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _exe(bin_dir / "trufflehog3", TRUFFLEHOG3)
    _exe(bin_dir / "hadolint", HADOLINT)
    monkeypatch.setenv("SECPIPE_TOOLS_DIR", str(tmp_path / "tools"))  # version cache
    return root, {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)}


def test_longest_first_queueing_and_honest_durations(project, tmp_path: Path) -> None:
    root, env = project
    log: list[tuple] = []
    events = Events(tool_queued=lambda s, t: log.append(("queued", t)),
                    tool_started=lambda s, t: log.append(("started", t)),
                    tool_finished=lambda r: log.append(("finished", r.tool)),
                    stage_finished=lambda r: log.append(("stage", r.name)),
                    phase=lambda name: log.append(("phase", name)))
    run = run_pipeline(RunRequest(root=root, out_dir=tmp_path / "out", env=env, jobs=1,
                                  use_hub=False), events=events)
    assert run.exit_code == 0, run.stages
    started = [t for kind, t in log if kind == "started"]
    assert started == ["trufflehog3", "hadolint"]
    for tool in ("trufflehog3", "hadolint"):
        assert log.index(("queued", tool)) < log.index(("started", tool)) \
            < log.index(("finished", tool))
    # hadolint waited in the queue while trufflehog3 ran: neither its tool time nor its
    # stage's duration may contain that wait
    stages = {s.name: s for s in run.stages}
    th3 = stages["secrets"].tools[0]
    assert stages["dockerfile"].duration_s < th3.duration_s
    assert stages["dockerfile"].tools[0].duration_s < th3.duration_s
    phases = [p for kind, p in log if kind == "phase"]
    assert phases[0].startswith("scrubbing") and phases[-1] == "writing reports"
    assert log.index(("phase", phases[0])) > max(i for i, e in enumerate(log)
                                                  if e[0] == "finished")
    summary = json.loads((Path(run.run_dir) / "summary.json").read_text())
    assert summary["verdict"] == "passed"


def test_costliest_first_keeps_ties_in_order() -> None:
    items = [(1, "hadolint"), (2, "checkov"), (3, "trufflehog3"), (4, "mystery"),
             (5, "detect-secrets"), (6, "git-secrets")]
    assert [t for _, t in longest_first(items)] == [
        "trufflehog3", "checkov", "detect-secrets", "git-secrets", "mystery", "hadolint"]
    # trufflehog3 on the working tree only (the default pipeline's): queued as a tree scan,
    # tied with the unknown tool and ahead of it by its place
    assert [t for _, t in longest_first(items, tree_only={"trufflehog3", "hadolint"})] == [
        "checkov", "detect-secrets", "git-secrets", "trufflehog3", "mystery", "hadolint"]


def test_one_tool_per_core_at_the_normal_priority() -> None:
    prio = Priorities(cores=2)
    first, second, third = prio.take(), prio.take(), prio.take()
    assert (first, second, third) == (0, 0, LOW_PRIORITY)
    prio.give_back(third)     # a low-priority tool ending frees no slot
    assert prio.take() == LOW_PRIORITY
    prio.give_back(first)     # a normal one does: the next tool to start takes it
    assert prio.take() == 0
    assert prio.take() == LOW_PRIORITY


def test_a_tool_runs_at_the_priority_asked_and_the_same_outcome(tmp_path: Path) -> None:
    """The lowered priority reaches the tool and its children (they inherit it); exit code,
    output and the failure of a crash are those of a normal-priority run."""
    import os

    from secpipe.scanners.interface import ToolCrashed, run_tool

    script = "cat /proc/self/stat | cut -d' ' -f19; sh -c \"cut -d' ' -f19 /proc/self/stat\""
    base = os.getpriority(os.PRIO_PROCESS, 0)
    runs = {nice: run_tool("probe", ["sh", "-c", script], cwd=tmp_path, env=os.environ,
                           timeout=30, ok=frozenset({0}), nice=nice) for nice in (0, 5)}
    assert runs[0].stdout.split() == [str(base).encode()] * 2
    assert runs[5].stdout.split() == [str(min(base + 5, 19)).encode()] * 2
    assert runs[0].exit_code == runs[5].exit_code == 0
    for nice in (0, 5):
        with pytest.raises(ToolCrashed, match="exited with code 3"):
            run_tool("probe", ["sh", "-c", "exit 3"], cwd=tmp_path, env=os.environ,
                     timeout=30, ok=frozenset({0}), nice=nice)


def test_default_jobs_follows_cores() -> None:
    import os

    assert default_jobs() >= 2
    assert default_jobs() <= len(os.sched_getaffinity(0)) + 1 or default_jobs() == 2


def test_measured_durations_decide_when_they_know_every_tool() -> None:
    items = [(1, "trufflehog3"), (2, "checkov"), (3, "hadolint")]
    measured = {"trufflehog3": 1.5, "checkov": 9.0, "hadolint": 0.2}
    assert [t for _, t in longest_first(items, measured)] == ["checkov", "trufflehog3",
                                                              "hadolint"]
    # one tool without a figure: the table's order, not a guess mixing the two
    assert [t for _, t in longest_first(items, {"checkov": 9.0, "hadolint": 0.2})] == [
        "trufflehog3", "checkov", "hadolint"]


def test_a_second_run_starts_the_tool_that_took_longest_first(
        project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The table ranks trufflehog3 before hadolint; on this tree hadolint is the slow one, so
    the run after the first starts it first (the figures are kept per tree, in the cache dir,
    with no path or content of the tree in clear)."""
    root, env = project
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    bin_dir = Path(env["PATH"].split(":")[0])
    _exe(bin_dir / "trufflehog3", TRUFFLEHOG3.replace("sleep 2\n", ""))
    _exe(bin_dir / "hadolint", HADOLINT.replace("echo '[]'", "sleep 2; echo '[]'"))
    starts = []
    for i in range(2):
        log: list[str] = []
        run = run_pipeline(RunRequest(root=root, out_dir=tmp_path / f"out{i}", env=env, jobs=1,
                                      use_hub=False),
                           events=Events(tool_started=lambda s, t: log.append(t)))
        assert run.exit_code == 0, run.stages
        starts.append(log)
    assert starts == [["trufflehog3", "hadolint"], ["hadolint", "trufflehog3"]]
    kept = list((tmp_path / "cache" / "secpipe" / "durations").iterdir())
    assert len(kept) == 1 and str(root) not in kept[0].read_text()
    assert set(json.loads(kept[0].read_text())) == {"trufflehog3", "hadolint"}


def test_the_tool_started_when_every_core_has_one_runs_at_lower_priority(
        project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One core: trufflehog3 (queued first) takes it at the normal priority, hadolint starts
    beside it at the lower one; the run's verdict and findings are those of a run where both
    have a core each."""
    import os

    from secpipe.pipeline import schedule

    root, env = project
    bin_dir = Path(env["PATH"].split(":")[0])
    record = "cut -d' ' -f19 /proc/$$/stat > \"$HOME/nice-$(basename $0)\"\n"
    _exe(bin_dir / "trufflehog3", TRUFFLEHOG3.replace("sleep 2\n", record + "sleep 1\n"))
    _exe(bin_dir / "hadolint", HADOLINT.replace("echo '[]'", record + "echo '[]'"))
    base = os.getpriority(os.PRIO_PROCESS, 0)
    outcomes = []
    for cores in (1, 2):
        monkeypatch.setattr(schedule, "_cores", lambda cores=cores: cores)
        run = run_pipeline(RunRequest(root=root, out_dir=tmp_path / f"out{cores}", env=env,
                                      jobs=2, use_hub=False))
        nice = {t: int((tmp_path / f"nice-{t}").read_text()) for t in ("trufflehog3", "hadolint")}
        expected_hadolint = min(base + schedule.LOW_PRIORITY, 19) if cores == 1 else base
        assert nice == {"trufflehog3": base, "hadolint": expected_hadolint}
        summary = json.loads((Path(run.run_dir) / "summary.json").read_text())
        outcomes.append((run.exit_code, summary["verdict"],
                         [(s.name, s.status, [(t.tool, t.status, t.findings) for t in s.tools])
                          for s in run.stages]))
    assert outcomes[0] == outcomes[1]
