"""Every way a tool can fail must end in a stage ERROR and exit 2, never a pass.

The tools here are small fake executables on a controlled PATH, so each failure is exact: a
missing binary, a crash, a timeout, a garbage or empty report, a kill by signal.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from secpipe.pipeline.api import RunRequest, run_pipeline
from secpipe.pipeline.result import StageStatus, ToolStatus

HADOLINT_OK = '[{"line":1,"code":"DL3006","message":"Always tag the version of an image explicitly","column":1,"file":"Dockerfile","level":"warning"}]'


def _tool(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    # answers --version like the real tool; the body is what a scan does
    path.write_text('#!/bin/sh\n[ "$1" = "--version" ] && { echo "Haskell Dockerfile Linter 9.9.9"; exit 0; }\n'
                    + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "Dockerfile").write_text("FROM alpine\nRUN echo hi\n")
    (root / "secpipe.yml").write_text("""version: 1
stages:
  dockerfile:
    tools: [hadolint]
    fail_on: high
    timeout: 3
  after:
    tools: [hadolint]
    needs: [dockerfile]
""")
    return root


def _run(project: Path, bin_dir: Path, tmp_path: Path, **kw):
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)}
    return run_pipeline(RunRequest(root=project, out_dir=tmp_path / "out", env=env, **kw))


def _only_stage(run, name="dockerfile"):
    return next(s for s in run.stages if s.name == name)


def test_passing_tool_gives_exit_0(project: Path, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"; bin_dir.mkdir()
    _tool(bin_dir, "hadolint", f"echo '{HADOLINT_OK}'")
    run = _run(project, bin_dir, tmp_path)
    assert run.exit_code == 0, run.stages
    assert _only_stage(run).status is StageStatus.PASSED
    assert len(_only_stage(run).findings) == 1


@pytest.mark.parametrize("case, body, cause", [
    ("missing", None, "missing"),
    ("crash", "echo 'segfault-ish' >&2; exit 3", "exited with code 3"),
    ("timeout", "sleep 30", "timed out"),
    ("garbage", "echo 'this is not json'", "unparsable report"),
    ("wrong-shape", "echo '{\"results\": 1}'", "unparsable report"),
    ("signal", "kill -9 $$", "killed by signal SIGKILL"),
])
def test_tool_failures_fail_closed(project: Path, tmp_path: Path, case: str, body: str | None,
                                   cause: str) -> None:
    bin_dir = tmp_path / "bin"; bin_dir.mkdir()
    if body is not None:
        _tool(bin_dir, "hadolint", body)
    run = _run(project, bin_dir, tmp_path)
    stage = _only_stage(run)
    assert stage.status is StageStatus.ERROR
    tool = stage.tools[0]
    assert tool.status is ToolStatus.ERROR and cause in tool.error, tool.error
    assert run.exit_code == 2
    # the dependent stage does not run on a broken foundation
    assert _only_stage(run, "after").status is StageStatus.SKIPPED
    # the log names the tool's failure
    log = (Path(run.run_dir) / tool.log_file).read_text()
    assert cause.split()[0] in log or "ERROR" in log


def test_timeout_kills_the_whole_process_group(project: Path, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"; bin_dir.mkdir()
    marker = tmp_path / "child-alive"
    _tool(bin_dir, "hadolint", f"(sleep 6; touch {marker}) & sleep 30")
    run = _run(project, bin_dir, tmp_path)
    assert run.exit_code == 2
    import time
    time.sleep(4)
    assert not marker.exists(), "a child of the timed-out tool survived"


def test_advisory_stage_error_does_not_fail_the_run(project: Path, tmp_path: Path) -> None:
    (project / "secpipe.yml").write_text("""version: 1
stages:
  dockerfile: {tools: [hadolint], mode: advisory}
""")
    bin_dir = tmp_path / "bin"; bin_dir.mkdir()
    run = _run(project, bin_dir, tmp_path)
    assert _only_stage(run).status is StageStatus.ERROR
    assert run.exit_code == 0


def test_unwritable_output_dir_is_an_error(project: Path, tmp_path: Path) -> None:
    from secpipe.pipeline.runner import RunError
    if os.geteuid() == 0:
        blocker = tmp_path / "file-not-dir"
        blocker.write_text("x")
        out = blocker / "sub"
    else:
        out = tmp_path / "ro"; out.mkdir(); out.chmod(0o500)
    bin_dir = tmp_path / "bin"; bin_dir.mkdir()
    with pytest.raises(RunError, match="cannot write"):
        run_pipeline(RunRequest(root=project, out_dir=out, env={"PATH": str(bin_dir)}))


def test_outputs_written(project: Path, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"; bin_dir.mkdir()
    _tool(bin_dir, "hadolint", f"echo '{HADOLINT_OK}'")
    run = _run(project, bin_dir, tmp_path)
    run_dir = Path(run.run_dir)
    for name in ("summary.json", "findings.asff.json", "results.sarif", "junit.xml", "report.html"):
        assert (run_dir / name).is_file(), name
    assert (run_dir / "raw" / "dockerfile" / "hadolint.json").is_file()
    assert (tmp_path / "out" / "runs" / "latest").resolve() == run_dir.resolve()


def test_ctrl_c_kills_tools_and_marks_the_run_interrupted(project: Path, tmp_path: Path) -> None:
    import json
    import signal
    import subprocess
    import sys
    import time

    from tests.reliability.test_fail_closed_run import ctrl_c_reaches

    bin_dir = tmp_path / "bin"; bin_dir.mkdir()
    marker = tmp_path / "child-alive"
    started = tmp_path / "tool-started"
    _tool(bin_dir, "hadolint", f"touch {started}; (sleep 5; touch {marker}) & sleep 60")
    (project / "secpipe.yml").write_text("stages:\n  dockerfile: {tools: [hadolint], timeout: 120}\n")
    env = dict(os.environ, PATH=f"{bin_dir}:/usr/bin:/bin", SECPIPE_TOOLS_DIR=str(tmp_path / "t"))
    proc = subprocess.Popen([sys.executable, "-m", "secpipe", "run", str(project), "--out",
                             str(tmp_path / "out"), "--no-progress"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=ctrl_c_reaches)
    # Ctrl-C once the tool really runs (a fixed sleep raced secpipe's start-up under load)
    deadline = time.monotonic() + 60
    while not started.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert started.exists(), "the tool never started"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)    # generous: a loaded CI machine, not the hub
    assert proc.returncode == 2, (out, err)
    assert b"interrupted" in err
    time.sleep(4)
    assert not marker.exists(), "a tool's child outlived Ctrl-C"
    summary = json.loads(next((tmp_path / "out" / "runs").glob("*/summary.json")).read_text())
    assert summary["interrupted"] is True and summary["exit_code"] == 2


def test_an_interrupt_while_the_hub_opens_lands_in_the_wait_not_in_the_opening() -> None:
    """Ctrl-C comes to the main thread: while the hub opens (imports, SQLite locks) the main
    thread only waits, so the opening is never cut halfway (an import cut by Ctrl-C once left
    a run unable to write its summary)."""
    import _thread
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    from secpipe.pipeline import runner

    entered, release, seen = threading.Event(), threading.Event(), []

    def gate() -> tuple[dict, list]:
        entered.set()
        try:
            release.wait(10)           # stands for the imports and the hub's opening
        except KeyboardInterrupt:
            seen.append("cut inside the opening")
            raise
        seen.append("finished")
        return {}, []

    def interrupt() -> None:
        entered.wait(10)
        _thread.interrupt_main()
        time.sleep(0.3)
        release.set()

    # SIGINT's action as at a terminal: a suite started in the background (nohup, `&` in a
    # script) inherits SIGINT ignored, and interrupt_main() then does nothing at all
    import signal
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        threading.Thread(target=interrupt, daemon=True).start()
        with ThreadPoolExecutor(1) as pool, pytest.raises(KeyboardInterrupt):
            runner._with_gate_inputs(gate, None, [], pool, {})
    finally:
        signal.signal(signal.SIGINT, before)
    deadline = time.monotonic() + 10
    while not seen and time.monotonic() < deadline:
        time.sleep(0.05)
    assert seen == ["finished"]
