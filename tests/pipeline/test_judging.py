"""When a done stage is judged while other tools run (pipeline.judging, runner.run_plan).

A stage whose tools are done is judged at once where that overlaps a tool's own process; put
off when a running tool's output was digested while it waited for its turn (judged then, it
would overlap nothing and add its copies to that digest's); always at once when a pending
stage needs it. Fake tools (runner._run_tool replaced) take the digest turn as the real ones
do, so each case is forced, not timed. Whatever the order, every stage is judged once, its
stage_finished event comes, and its duration is its tools' running time plus its judging.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from secpipe.model import Severity, SourceContext
from secpipe.pipeline import runner
from secpipe.pipeline.judging import needed_now
from secpipe.pipeline.plan import Plan, PlannedStage
from secpipe.pipeline.result import RunResult, StageResult, StageStatus, ToolResult, ToolStatus
from secpipe.scancache.turns import my_turn, turns

WAIT = 10.0   # a fake tool never waits longer than this for the test's signal
judged_with: dict[str, set[str]] = {}   # stage -> the clear values it was judged with


def _stage(name: str, tools: tuple[str, ...], needs: tuple[str, ...] = ()) -> PlannedStage:
    return PlannedStage(name, tools, needs, Severity.HIGH, "enforce", 60.0)


def _run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stages: tuple[PlannedStage, ...],
         tools: dict, judged: dict[str, threading.Event] | None = None
         ) -> tuple[list[str], RunResult]:
    """Run the plan with `tools` (name -> fake(digested, log)); returns what happened, in
    order: `judge <stage>`, `scrub` (the values' scrub), `finished <stage>`, and the tools'
    notes. `judged[stage]` is set once that stage is judged."""
    log: list[str] = []

    def fake_run_tool(stage, tool, plan, env, scratch, collector, *args, nice=0,
                      digested=lambda: None):
        tools[tool](digested, log, collector)
        return runner._ToolRun(ToolResult(tool=tool, stage=stage.name, status=ToolStatus.OK,
                                          duration_s=0.0))

    def fake_judge(stage, runs, run, suppressions, baseline, values):
        log.append(f"judge {stage.name}")
        judged_with[stage.name] = set(values)
        if judged and stage.name in judged:
            judged[stage.name].set()
        return StageResult(stage.name, StageStatus.PASSED, stage.fail_on, stage.mode,
                           tools=[r.result for r in runs])

    scrub_values = runner._scrub_values

    def recorded_scrub(*args, **kwargs):
        log.append("scrub")
        return scrub_values(*args, **kwargs)

    monkeypatch.setattr(runner, "_run_tool", fake_run_tool)
    monkeypatch.setattr(runner, "_judge", fake_judge)
    monkeypatch.setattr(runner, "_scrub_values", recorded_scrub)
    judged_with.clear()
    run = RunResult("r", str(tmp_path), str(tmp_path / "run"), SourceContext(), "")
    plan = Plan(tmp_path, stages, {}, (), None)
    events = runner.Events(stage_finished=lambda s: log.append(f"finished {s.name}"))
    runner.run_plan(plan, run=run, suppressions=[], env={}, jobs=4, events=events)
    return log, run


def _tool(after: threading.Event | None = None, then: threading.Event | None = None,
          hold: float = 0.0, until: threading.Event | None = None, value: str = ""):
    """A fake tool: its process ends when `after` is set; then it digests in its turn (its
    parser sees the clear `value`), sets `then` once it holds it and keeps it `hold` seconds;
    its worker returns once `until` is set (after its turn)."""
    def tool(digested, log, collector):
        if after is not None:
            assert after.wait(WAIT)
        with turns():
            my_turn()
            if then is not None:
                then.set()
            time.sleep(hold)
            if value:
                collector.add(value)
            digested()
        if until is not None:
            assert until.wait(WAIT)
    return tool


def _beside_a_digest() -> dict:
    """trufflehog3 digests, then checkov's output comes in and holds the turn 0.3 s, and only
    then does trufflehog3's worker return: secrets' judging waits for checkov's digest."""
    first, second = threading.Event(), threading.Event()
    return {"trufflehog3": _tool(then=first, until=second),
            "checkov": _tool(after=first, then=second, hold=0.3)}


def test_a_stage_done_beside_a_digest_is_judged_after_the_scrub(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # checkov's output is in and digested while secrets' judging waits for the turn
    log, run = _run(tmp_path, monkeypatch,
                    (_stage("secrets", ("trufflehog3",)), _stage("iac", ("checkov",))),
                    _beside_a_digest())
    assert log == ["scrub", "judge secrets", "finished secrets", "judge iac", "finished iac"]
    assert [s.name for s in run.stages] == ["secrets", "iac"]


def test_a_stage_done_while_a_tool_runs_its_process_is_judged_at_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # checkov's process ends only once secrets is judged: the judging overlaps it
    judged = threading.Event()
    log, run = _run(tmp_path, monkeypatch,
                    (_stage("secrets", ("trufflehog3",)), _stage("iac", ("checkov",))),
                    {"trufflehog3": _tool(), "checkov": _tool(after=judged)},
                    judged={"secrets": judged})
    assert log == ["judge secrets", "finished secrets", "scrub", "judge iac", "finished iac"]


def test_a_stage_a_pending_stage_needs_is_judged_before_it_starts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # as in the first case, but `deploy` needs secrets: secrets is judged at once
    def deploy(digested, log, collector):
        log.append("deploy runs")

    log, run = _run(tmp_path, monkeypatch,
                    (_stage("secrets", ("trufflehog3",)), _stage("iac", ("checkov",)),
                     _stage("deploy", ("zap",), needs=("secrets",))),
                    {**_beside_a_digest(), "zap": deploy})
    assert log.index("judge secrets") < log.index("deploy runs") < log.index("scrub")
    assert sorted(x for x in log if x.startswith("judge")) == [
        "judge deploy", "judge iac", "judge secrets"]
    assert [s.name for s in run.stages] == ["secrets", "iac", "deploy"]


def test_a_stage_durations_are_its_running_time(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # secrets waits 0.3 s for checkov's digest and is put off: none of that is its duration
    log, run = _run(tmp_path, monkeypatch,
                    (_stage("secrets", ("trufflehog3",)), _stage("iac", ("checkov",))),
                    _beside_a_digest())
    secrets, iac = run.stages
    assert secrets.duration_s < 0.25 <= iac.duration_s


def test_a_stage_put_off_is_judged_with_the_values_its_turn_saw(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # secrets waits for checkov's digest and is put off; trivy's output comes in only then,
    # and secrets waits for its digest too: it correlates with trufflehog3's and checkov's
    # values (what it would have been judged with at once), not trivy's
    first, second, put_off, third = (threading.Event() for _ in range(4))
    digest_in = runner._digest_in

    def signalled(*args) -> bool:
        found = digest_in(*args)
        if found:
            put_off.set()
        return found

    monkeypatch.setattr(runner, "_digest_in", signalled)
    log, run = _run(tmp_path, monkeypatch,
                    (_stage("secrets", ("trufflehog3",)), _stage("iac", ("checkov",)),
                     _stage("image", ("trivy",))),
                    {"trufflehog3": _tool(then=first, until=second, value="value-of-th"),
                     "checkov": _tool(after=first, then=second, hold=0.3, until=third,
                                      value="value-of-ck"),
                     "trivy": _tool(after=put_off, then=third, hold=0.3,
                                    value="value-of-trivy")})
    assert log.index("scrub") < log.index("judge secrets")
    assert judged_with["secrets"] == {"value-of-th", "value-of-ck"}
    assert judged_with["image"] == {"value-of-th", "value-of-ck", "value-of-trivy"}


def test_needed_now() -> None:
    a, b = _stage("a", ("t",)), _stage("b", ("u",))
    c = _stage("c", ("v",), needs=("a", "b"))
    done = {"b": StageResult("b", StageStatus.PASSED, Severity.HIGH, "enforce")}
    assert needed_now(a, [a], {"c": c}, done)
    assert not needed_now(a, [a], {"c": c}, {})        # c waits for b anyway
    assert needed_now(a, [a, b], {"c": c}, {})         # b is judged now too
    assert not needed_now(a, [a], {}, done)
