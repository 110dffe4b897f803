"""report.html at 50,000 findings in headless Chromium: it renders, groups issues, expands a
detail on demand, filters, and runs nothing a scanned string carries.

Chromium is Debian's (`apt-get install -y chromium`), never a Playwright download. Load time
is measured by bench/own_cpu.py --html-load, never asserted here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

from secpipe.model import Category, Finding, Location, Secret, Severity, SourceContext
from secpipe.outputs import write_html
from secpipe.pipeline.result import (
    GatedFinding, RunResult, StageResult, StageStatus, ToolResult, ToolStatus,
)

sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = os.environ.get("SECPIPE_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
HOSTILE = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
N = 50_000
PER_ISSUE = 5          # findings 0..4 share issue "issue-0", and so on


def _run() -> RunResult:
    sevs = [Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW]
    gated, tool_findings = [], []
    for i in range(N):
        f = Finding(
            tool="trufflehog3", rule_id=f"rule-{i % 40}",
            title=HOSTILE if i == 0 else f"Secret kind {i % 40}",
            severity=sevs[(i // PER_ISSUE) % 4], category=Category.SECRET,
            location=Location(f"src/dir{i % 300}/file{i}.js", 1 + i % 500),
            secret=Secret.from_hash(f"{i:064x}", masked=f"AKIA…{i % 10000:04d}"),
            description=f"Long description of rule {i % 40}. " * 5,
            remediation="Rotate the credential.", issue_key=f"issue-{i // PER_ISSUE}")
        tool_findings.append(f)
        gated.append(GatedFinding(f, "secrets", f"secpipe/trufflehog3/{i:032x}", i % 7 == 0,
                                  None))
    tool = ToolResult("trufflehog3", "secrets", ToolStatus.OK, "3.0.10", 2, 12.0,
                      findings=tool_findings)
    stage = StageResult("secrets", StageStatus.FAILED, Severity.LOW, "enforce", [tool],
                        gated, 12.0)
    return RunResult("r50k", "/repo", "/repo/.secpipe/runs/r50k",
                     SourceContext(repo="acme/big", branch="main", commit="b" * 40),
                     "2024-01-01T10:00:00Z", "2024-01-01T10:05:00Z", [stage])


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    return write_html(_run(), tmp_path_factory.mktemp("html50k"))


@pytest.fixture()
def page(report: Path) -> Iterator[object]:
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no Chromium at {CHROMIUM}: `apt-get install -y chromium` "
                    "(or point SECPIPE_CHROMIUM at one)")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            pg = browser.new_page(viewport={"width": 1360, "height": 900})
            pg.errors, pg.dialogs = [], []
            pg.on("pageerror", lambda e: pg.errors.append(str(e)))
            pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))
            pg.set_default_timeout(60_000)
            pg.goto(report.as_uri())
            pg.wait_for_selector("#findings[data-ready='1']", state="attached")
            yield pg
        finally:
            browser.close()


def test_50k_report_renders_grouped_and_expands_a_detail(page) -> None:
    issues = N // PER_ISSUE
    assert page.inner_text("#shown") == f"{N} in {issues} issues"
    rows = page.locator("#findings > tbody > tr")
    assert rows.count() == 200                      # one page of issues, not 50,000 rows
    first = rows.nth(0)
    assert "(+4 more)" in first.inner_text()
    first.locator("button.toggle").click()
    # details are inflated on the first expand
    page.wait_for_selector("#findings > tbody > tr.detail")
    detail = page.locator("#findings > tbody > tr.detail")
    assert detail.count() == 1 and detail.is_visible()
    assert detail.locator("table.members tbody tr").count() == PER_ISSUE
    assert "Long description of rule 0." in detail.inner_text()
    # the hostile title is text, not markup, in the row and in its detail
    assert HOSTILE in first.inner_text() and HOSTILE in detail.inner_text()
    assert page.locator("#findings img").count() == 0
    first.locator("button.toggle").click()
    assert page.locator("#findings > tbody > tr.detail").count() == 0
    page.click("#more")
    assert rows.count() == 400
    assert page.errors == [] and page.dialogs == []


def test_50k_report_filters_over_all_issues(page) -> None:
    page.fill("input[data-filter='text']", "file49999.js")
    assert page.inner_text("#shown") == f"{PER_ISSUE} in 1 issues"
    assert page.locator("#findings > tbody > tr").count() == 1
    page.fill("input[data-filter='text']", "")
    page.select_option("select[data-filter='state']", "blocking")
    shown = page.inner_text("#shown")
    assert shown.endswith(" issues") and int(shown.split()[0]) > 0
    assert page.errors == [] and page.dialogs == []
