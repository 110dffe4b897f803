"""Any folder: one that is not a git work tree is scanned as a tree, and says what it could not.

Needs the scanners (`secpipe tools install`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from secpipe.pipeline.keep import scrub_unparsed
from secpipe.tools import tool_env
from tests.conftest import ROOT

KEY = "AKIAQ3ZP7XN2LRW4KD6M"


def _plain(tmp_path: Path) -> Path:
    root = tmp_path / "unpacked"  # an unpacked archive: no .git anywhere above it
    (root / "app").mkdir(parents=True)
    (root / "app" / "settings.py").write_text(f'aws_key = "{KEY}"\n')
    assert subprocess.run(["git", "-C", str(root), "rev-parse"], capture_output=True
                          ).returncode != 0, "the test folder must not be inside a git work tree"
    return root


def _secpipe(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**tool_env(), "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "secpipe", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=900)


def _need(*tools: str) -> None:
    for exe in tools:
        if not shutil.which(exe, path=tool_env()["PATH"]):
            pytest.skip(f"{exe} is not installed (`secpipe tools install`)")


@pytest.mark.tools
def test_plain_folder_with_a_key(tmp_path: Path) -> None:
    _need("git-secrets", "detect-secrets", "trufflehog3")
    root = _plain(tmp_path)
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    done = _secpipe("run", str(root), "--stage", "secrets", "--no-progress", cwd=elsewhere)
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    assert "history not scanned: unpacked is not inside a git work tree" in out
    assert "Gate FAILED" in out
    assert not (elsewhere / ".secpipe").exists()  # outputs go to PATH/.secpipe
    summary = json.loads((root / ".secpipe" / "runs" / "latest" / "summary.json").read_text())
    tools = {t["name"]: t for t in summary["stages"][0]["tools"]}
    assert tools["git-secrets"]["status"] == "ok" and tools["git-secrets"]["findings"] == 1
    assert tools["git-secrets"]["coverage"]["history"].startswith("not scanned")
    assert "--no-index" in tools["git-secrets"]["command"]
    assert f"Report: {root / '.secpipe' / 'runs'}" in out


@pytest.mark.tools
def test_history_required_is_an_error(tmp_path: Path) -> None:
    _need("git-secrets")
    root = _plain(tmp_path)
    (root / "secpipe.yml").write_text(
        "stages:\n  secrets: {tools: [git-secrets], fail_on: low}\n"
        "tools:\n  git-secrets: {history: required}\n")
    done = _secpipe("run", str(root), "--no-progress", cwd=root)
    assert done.returncode == 2
    assert "history: required" in done.stdout and "not inside a git work tree" in done.stdout


def test_unparsable_reports_are_kept_masked() -> None:
    data = (b'weird line\napp/settings.py:1:aws_key = "' + KEY.encode() + b'"\n'
            b"aws_secret = DFnNho62c16uXY71utLubrjLpCreK3evpDvW4J2K\n")
    kept = scrub_unparsed(data)
    assert KEY.encode() not in kept and b"DFnNho62c16uXY71ut" not in kept
    assert b"AKIA\xe2\x80\xa6KD6M" in kept and b"weird line" in kept
    assert b"app/settings.py" in kept  # paths without digits stay readable


def test_an_unparsable_report_is_kept_masked_beside_its_log(tmp_path: Path) -> None:
    """A tool whose report does not parse: stage ERROR, and the report kept for the reader."""
    import stat

    from secpipe.pipeline.api import RunRequest, run_pipeline
    from secpipe.pipeline.result import StageStatus

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "hadolint"  # a hadolint that prints something hadolint never would
    fake.write_text('#!/bin/sh\n[ "$1" = "--version" ] && { echo "Haskell Dockerfile Linter '
                    '9.9.9"; exit 0; }\n'
                    f'echo "not json: the key {KEY} leaked into this output"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    root = tmp_path / "proj"
    root.mkdir()
    (root / "Dockerfile").write_text("FROM alpine\n")
    (root / "secpipe.yml").write_text("stages:\n  dockerfile: {tools: [hadolint]}\n")
    run = run_pipeline(RunRequest(root=root, use_hub=False,
                                  env={"PATH": f"{bin_dir}:/usr/bin:/bin",
                                       "HOME": str(tmp_path)}))
    assert run.stages[0].status is StageStatus.ERROR and run.exit_code == 2
    tool = run.stages[0].tools[0]
    assert "unparsable report" in (tool.error or "")
    kept = Path(run.run_dir) / tool.report_file
    assert kept == Path(run.run_dir) / "raw" / "dockerfile" / "hadolint.json"
    text = kept.read_text(encoding="utf-8")
    assert "not json: the key AKIA…KD6M leaked" in text and KEY not in text
    assert (Path(run.run_dir) / tool.log_file).is_file()
