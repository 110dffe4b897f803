"""Finding text is attacker-controlled: every writer neutralises it, and no name escapes the run.

A scanned repository chooses its file names and code, and through them the titles,
descriptions and paths scanners report; a scanner's error message quotes them too. Here every
text field of every finding (and a tool's error and version, a suppression's reason) carries
`<script>`, a `javascript:` URL, ANSI escapes, NUL and other control characters, bidi
overrides (U+202E, the "Trojan Source" characters) and lines of 200,000 characters, and each
output is parsed the way its reader would: the HTML report by an HTML parser, JUnit as XML,
SARIF as JSON, the console as terminal text. docs/reliability.md, "Hostile text".
"""

from __future__ import annotations

import io
import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
from rich.console import Console

from secpipe.model import Category, Finding, Location, Secret, Severity, SourceContext
from secpipe.outputs import render_console, render_html, render_junit, render_sarif, write_all
from tests.asserts import from_script_json
from secpipe.pipeline.result import (
    GatedFinding, RunResult, StageResult, StageStatus, Suppression, ToolResult, ToolStatus,
)
from secpipe.pipeline.runner import RunError, _inside, _ToolRun, write_raw
from secpipe.scanners.interface import RawReport

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(2)>'
ANSI = "\x1b[2J\x1b[32mGate passed\x1b[0m"
CONTROL = "\x00NUL\x07BEL\x08BS\x0bVT\x7fDEL\x9bCSI"
BIDI = "\u202eevil.exe\u202c \u2066iso\u2069 \u200f"
CRLF = "\r\nERROR: injected line"
LONG = "L" * 200_000
HOSTILE = " ".join([SCRIPT, IMG, ANSI, CONTROL, BIDI, CRLF, "[bold red]markup[/]", "]]> <!--"])
JS_URL = "javascript:alert(3)"

# What no output may carry raw: C0/C1 controls (tab, newline, CR aside where the format keeps
# line breaks), and the bidi embedding/override/isolate characters.
_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def hostile_run() -> RunResult:
    secret = Finding(
        tool="gitleaks", rule_id=f"rule {HOSTILE}", title=f"{HOSTILE} {LONG}",
        severity=Severity.CRITICAL, category=Category.SECRET, description=HOSTILE + LONG,
        location=Location(f"src/{HOSTILE}/a.py", 3, 4, snippet=HOSTILE),
        secret=Secret.from_value("AKIA" + "\u202e\x1b[2J" + "Z" * 16),
        remediation=HOSTILE, remediation_url=JS_URL, references=(JS_URL, f"https://x/{SCRIPT}"),
        cwe=(HOSTILE,), properties={HOSTILE: HOSTILE},
    )
    plain = Finding(tool="checkov", rule_id="CKV_1", title=HOSTILE, severity=Severity.HIGH,
                    description=LONG, location=Location(HOSTILE, 1))
    suppressed = Finding(tool="checkov", rule_id="CKV_2", title=HOSTILE, severity=Severity.LOW,
                         location=Location("b.tf", 2))
    sup = Suppression(reason=HOSTILE, expires="2099-01-01", rule="CKV_2", path=HOSTILE)
    ok = ToolResult("gitleaks", "secrets", ToolStatus.OK, f"8.0 {HOSTILE}", 1, 0.5,
                    ["gitleaks", HOSTILE], "raw/secrets/gitleaks.json", "logs/x.log", None,
                    [secret])
    broken = ToolResult("checkov", "secrets", ToolStatus.ERROR, None, 2, 0.1,
                        ["checkov", HOSTILE], None, "logs/y.log", f"checkov: crashed {HOSTILE}",
                        [plain, suppressed])
    gated = [GatedFinding(secret, "secrets", f"id/{HOSTILE}", True, None),
             GatedFinding(plain, "secrets", "id/2", True, None),
             GatedFinding(suppressed, "secrets", "id/3", False, sup)]
    stage = StageResult("secrets", StageStatus.ERROR, Severity.HIGH, "enforce", [ok, broken],
                        gated, 0.6, f"stage error {HOSTILE}")
    ctx = SourceContext(repo=f"acme/{HOSTILE}", branch=HOSTILE, commit="c" * 40, run_id="r1")
    return RunResult(run_id="r1", root="/repo", run_dir="/repo/.secpipe/runs/r1", context=ctx,
                     started_at="2024-01-01T10:00:00Z", finished_at="2024-01-01T10:00:01Z",
                     stages=[stage], expired_suppressions=[sup])


@pytest.fixture(scope="module")
def run() -> RunResult:
    return hostile_run()


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))

    def handle_data(self, data):
        self.text.append(data)


def test_html_report(run: RunResult) -> None:
    page = render_html(run)
    parser = _Tags()
    parser.feed(page)
    parser.close()
    scripts = [dict(a) for t, a in parser.tags if t == "script"]
    # our own script, plus the findings as an inert JSON block (never executed)
    assert scripts == [{"type": "application/gzip+base64", "id": "report-data"},
                       {"type": "application/gzip+base64", "id": "report-details"}, {}]
    # the findings' data (drawn by the script as text) is as clean as the page
    for name in ("report-data", "report-details"):
        block = re.search(f'id="{name}">(.*?)</script>', page, re.S).group(1)
        for text in from_script_json(block)["strings"]:
            assert not _BAD.search(text), repr(text)
    assert not any(t == "img" for t, _ in parser.tags)
    for tag, attrs in parser.tags:
        for name, value in attrs:
            assert not name.startswith("on"), (tag, name)
            assert not (value or "").strip().lower().startswith("javascript:"), (tag, name)
    decoded = "".join(parser.text) + "".join(v or "" for _, a in parser.tags for _, v in a)
    assert not _BAD.search(decoded), repr(_BAD.search(decoded))
    assert not _BAD.search(page)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # shown, as text


def test_junit_xml(run: RunResult) -> None:
    data = render_junit(run)
    root = ET.fromstring(data)                                   # well-formed XML 1.0
    for elem in root.iter():
        for value in [elem.text or "", *elem.attrib.values()]:
            assert not _BAD.search(value), (elem.tag, repr(_BAD.search(value)))
    assert b"<script>" not in data


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def test_sarif(run: RunResult) -> None:
    doc = json.loads(render_sarif(run))
    for text in _strings(doc):
        assert not _BAD.search(text), repr(text[:120])
    for run_ in doc["runs"]:
        for rule in run_["tool"]["driver"]["rules"]:
            assert not rule.get("helpUri", "").lower().startswith("javascript:")


def test_console(run: RunResult) -> None:
    buf = io.StringIO()
    render_console(run, Console(file=buf, width=200, color_system=None))
    out = buf.getvalue()
    assert not _BAD.search(out), repr(_BAD.search(out))
    assert "\r" not in out
    # a CR/LF in scanned text cannot start a line of its own (a forged verdict or log line)
    assert not any(line.lstrip().startswith("ERROR: injected") for line in out.splitlines())
    assert max(len(line) for line in out.splitlines()) <= 2_000   # no 200 KB terminal line


def test_every_run_file_is_written_and_stays_in_the_run_dir(run: RunResult,
                                                           tmp_path: Path) -> None:
    written = write_all(run, tmp_path / "run")
    assert set(written) == {"summary", "asff", "ocsf", "sarif", "junit", "html"}
    for path in written.values():
        assert path.resolve().is_relative_to((tmp_path / "run").resolve())


# --- names chosen by tools and configs cannot leave the run directory ---------------------

@pytest.mark.parametrize("name", ["../escape.json", "../../escape.json", "/tmp/escape.json",
                                  "stage/../../escape.json", "a/b/../../../escape.json",
                                  "..", "stage/..\x00/x"])
def test_report_names_cannot_escape(tmp_path: Path, name: str) -> None:
    run_dir = tmp_path / "runs" / "r1"
    (run_dir / "raw").mkdir(parents=True)
    if "\x00" in name:
        with pytest.raises((RunError, ValueError)):
            _inside(run_dir / "raw", name)
        return
    with pytest.raises(RunError, match="outside"):
        _inside(run_dir / "raw", name)
    result = ToolResult("t", "s", ToolStatus.OK)
    with pytest.raises(RunError, match="outside"):
        write_raw(run_dir, [_ToolRun(result, reports=[RawReport(name, b"x")])])
    assert not any(p.name == "escape.json" for p in tmp_path.rglob("*"))
    assert not Path("/tmp/escape.json").exists()


def test_a_symlink_planted_in_the_run_dir_is_not_followed_out(tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "r1"
    (run_dir / "raw").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (run_dir / "raw" / "stage").symlink_to(outside)
    with pytest.raises(RunError, match="outside"):
        _inside(run_dir / "raw", "stage/report.json")
    assert not any(outside.iterdir())


def test_inside_names_are_written(tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "r1"
    run_dir.mkdir(parents=True)
    result = ToolResult("tool", "stage", ToolStatus.OK)
    write_raw(run_dir, [_ToolRun(result, reports=[RawReport("stage/a/../report.json", b"x")],
                                 log="log")])
    assert (run_dir / "raw" / "stage" / "report.json").read_bytes() == b"x"
    assert (run_dir / "logs" / "stage-tool.log").is_file()


@pytest.mark.parametrize("stage", ["../../escape", "/tmp/escape-abs", "a/../../escape"])
def test_hostile_stage_names_never_write_outside(tmp_path: Path, stage: str) -> None:
    """A stage name is part of every raw report's and log's path: a config that names a stage
    `../../x` is refused, or its files still land inside the run directory."""
    from secpipe.config import ConfigError
    from secpipe.pipeline.api import RunRequest, run_pipeline

    root = tmp_path / "proj"
    root.mkdir()
    (root / "Dockerfile").write_text("FROM alpine\n")
    (root / "secpipe.yml").write_text(f"version: 1\nstages:\n  {json.dumps(stage)}:\n"
                                      "    tools: [hadolint]\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "hadolint"
    tool.write_text("#!/bin/sh\necho '[]'\n")
    tool.chmod(0o755)
    before = set(tmp_path.rglob("*"))
    try:
        run = run_pipeline(RunRequest(root=root, out_dir=tmp_path / "out", use_hub=False,
                                      env={"PATH": f"{bin_dir}:/usr/bin:/bin"}))
    except (ConfigError, RunError):
        run = None
    created = set(tmp_path.rglob("*")) - before
    out = (tmp_path / "out").resolve()
    for path in created:
        assert path.resolve().is_relative_to(out) or path.resolve().is_relative_to(
            (tmp_path / "out").resolve()), f"{path} written outside the output dir"
    assert not Path("/tmp/escape-abs").exists()
    if run is not None:
        assert run.exit_code == 2 or all(s.name == stage for s in run.stages)
