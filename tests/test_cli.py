"""The command line as a user meets it: a real process, real exit codes, no tracebacks."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from secpipe import __version__
from secpipe.model import validate_asff
from tests.conftest import OWN_FIXTURES

COMMANDS = [["run"], ["convert"], ["formats"], ["doctor"], ["tools"], ["tools", "install"]]
FORMAT_NAMES = ["git-secrets", "detect-secrets", "trufflehog", "trufflehog3", "gitleaks",
                "hadolint", "checkov", "trivy", "sarif", "semgrep", "bandit", "kics", "tfsec",
                "terrascan", "kubescape", "kube-bench", "kubeaudit", "asff"]


def secpipe(*args: str, env: dict | None = None, cwd: Path | None = None, stdin: bytes | None = None):
    return subprocess.run([sys.executable, "-m", "secpipe", *args], capture_output=True,
                          env=env, cwd=cwd, input=stdin, timeout=300)


def test_version() -> None:
    out = secpipe("--version")
    assert out.returncode == 0 and __version__ in out.stdout.decode()


@pytest.mark.parametrize("cmd", COMMANDS, ids=" ".join)
def test_every_command_explains_itself_with_an_example(cmd: list[str]) -> None:
    out = secpipe(*cmd, "--help")
    text = out.stdout.decode()
    assert out.returncode == 0, out.stderr
    assert "Example" in text or "Quick start" in text, text


def test_formats_lists_every_required_format() -> None:
    out = secpipe("formats", "--json")
    names = [f["name"] for f in json.loads(out.stdout)]
    assert set(FORMAT_NAMES) <= set(names)


def test_convert_to_every_output() -> None:
    report = OWN_FIXTURES / "hadolint" / "example-web.json"
    asff = json.loads(secpipe("convert", str(report), "--from", "hadolint").stdout)
    assert len(asff) == 4 and all(validate_asff(o) == [] for o in asff)
    auto = json.loads(secpipe("convert", str(report), "--from", "auto").stdout)
    assert [o["Id"] for o in auto] == [o["Id"] for o in asff]
    sarif = json.loads(secpipe("convert", str(report), "--from", "hadolint", "--to", "sarif").stdout)
    assert sarif["version"] == "2.1.0" and len(sarif["runs"][0]["results"]) == 4
    junit = secpipe("convert", str(report), "--from", "hadolint", "--to", "junit").stdout
    assert junit.lstrip().startswith(b"<?xml") or b"<testsuites" in junit
    plain = json.loads(secpipe("convert", str(report), "--from", "hadolint", "--to", "json").stdout)
    assert plain[0]["tool"] == "hadolint"
    ocsf = json.loads(secpipe("convert", str(report), "--from", "hadolint", "--to", "ocsf").stdout)
    assert [e["finding_info"]["uid"] for e in ocsf] == [o["Id"] for o in asff]
    assert {e["class_uid"] for e in ocsf} == {2003}  # Dockerfile lint: Compliance Finding
    piped = secpipe("convert", "-", "--from", "hadolint", stdin=report.read_bytes())
    assert piped.returncode == 0 and len(json.loads(piped.stdout)) == 4


@pytest.mark.parametrize("args, needle", [
    (["--from", "nosuch"], "unknown format 'nosuch'"),
    (["--from", "checkov"], "not valid JSON"),
    (["--from", "auto"], "could not recognise"),
])
def test_convert_errors_are_clear(tmp_path: Path, args: list[str], needle: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{ this is not json")
    out = secpipe("convert", str(bad), *args)
    err = out.stderr.decode()
    assert out.returncode == 2 and needle in err and "Traceback" not in err, err


@pytest.mark.parametrize("rel", ["checkov/example-web.json", "hadolint/example-web.json",
                                 "trufflehog3/example-web.json"])
def test_convert_refuses_a_report_of_another_format(rel: str) -> None:
    """`--from trivy` on a checkov, hadolint or trufflehog3 report used to print `[]`, exit 0."""
    report = OWN_FIXTURES / rel
    out = secpipe("convert", str(report), "--from", "trivy")
    err = out.stderr.decode()
    assert out.returncode == 2 and out.stdout == b"", err
    assert f"{report}: not a trivy report" in " ".join(err.split()) and "Traceback" not in err


def test_convert_missing_file() -> None:
    out = secpipe("convert", "/nonexistent/report.json", "--from", "auto")
    assert out.returncode == 2 and "cannot read" in out.stderr.decode()


def _fake_hadolint(bin_dir: Path, body: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    path = bin_dir / "hadolint"
    path.write_text('#!/bin/sh\n[ "$1" = "--version" ] && { echo "Haskell Dockerfile Linter 2.15.1"; exit 0; }\n' + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.mark.parametrize("level, code, verdict", [
    ("style", 0, "Gate passed"), ("error", 1, "Gate FAILED"), (None, 2, "ERROR"),
])
def test_run_exit_codes(tmp_path: Path, level: str | None, code: int, verdict: str) -> None:
    proj = tmp_path / "p"
    proj.mkdir()
    (proj / "Dockerfile").write_text("FROM alpine\n")
    (proj / "secpipe.yml").write_text("stages:\n  dockerfile: {tools: [hadolint], fail_on: high}\n")
    bin_dir = tmp_path / "bin"
    if level:
        _fake_hadolint(bin_dir, f"""echo '[{{"line":1,"code":"DL3006","message":"m","column":1,"file":"Dockerfile","level":"{level}"}}]'""")
    else:
        _fake_hadolint(bin_dir, "exit 7")
    env = dict(os.environ, PATH=f"{bin_dir}:/usr/bin:/bin", SECPIPE_TOOLS_DIR=str(tmp_path / "tools"))
    out = secpipe("run", str(proj), "--out", str(tmp_path / "out"), env=env)
    text = out.stdout.decode() + out.stderr.decode()
    assert out.returncode == code, text
    assert verdict in text
    assert "report.html" in text


def test_run_config_error_names_the_line(tmp_path: Path) -> None:
    (tmp_path / "secpipe.yml").write_text("stages:\n  s:\n    tools: [hadolint]\n    fail_on: sometimes\n")
    out = secpipe("run", str(tmp_path), "--out", str(tmp_path / "out"))
    err = out.stderr.decode()
    assert out.returncode == 2 and "secpipe.yml:4: stages.s.fail_on" in err and "Traceback" not in err


def test_run_unknown_stage_and_tool(tmp_path: Path) -> None:
    (tmp_path / "secpipe.yml").write_text("stages:\n  s: {tools: [nosuchtool]}\n")
    out = secpipe("run", str(tmp_path))
    assert out.returncode == 2 and "unknown tool 'nosuchtool'" in out.stderr.decode()
    (tmp_path / "secpipe.yml").write_text("stages:\n  s: {tools: [hadolint]}\n")
    out = secpipe("run", str(tmp_path), "--stage", "nope")
    assert out.returncode == 2 and "no stage named 'nope'" in out.stderr.decode()
