from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from secpipe.config import ConfigError
from secpipe.model import Finding, Location, Severity, SourceContext
from secpipe.pipeline.gate import judge_findings, stage_status
from secpipe.pipeline.result import StageStatus, ToolResult, ToolStatus
from secpipe.pipeline.suppressions import load_suppressions, split_expired

CTX = SourceContext(run_id="r", stage="iac")


def _f(rule: str, sev: Severity, path: str = "a.tf") -> Finding:
    return Finding(tool="checkov", rule_id=rule, title=rule, severity=sev, location=Location(path, 1))


def test_threshold_blocks_at_and_above() -> None:
    gated = judge_findings([_f("A", Severity.MEDIUM), _f("B", Severity.HIGH), _f("C", Severity.LOW)],
                           stage="iac", fail_on=Severity.MEDIUM, suppressions=[], ctx=CTX)
    assert {g.finding.rule_id: g.blocking for g in gated} == {"A": True, "B": True, "C": False}


def test_suppressions_by_rule_path_and_id(tmp_path: Path) -> None:
    target = _f("B", Severity.HIGH, "charts/x.yaml")
    fp = target.fingerprint()
    sup = tmp_path / "s.yml"
    sup.write_text(f"""version: 1
suppressions:
  - rule: A
    reason: accepted risk, ticket SEC-1
    expires: 2999-01-01
  - path: "charts/*"
    tool: checkov
    reason: chart vendored from upstream
    expires: 2999-01-01
  - id: {fp}
    reason: old
    expires: 2000-01-01
""")
    entries = load_suppressions(sup)
    active, expired = split_expired(entries, dt.date(2026, 11, 27))
    assert len(active) == 2 and len(expired) == 1 and expired[0].id == fp
    gated = judge_findings([_f("A", Severity.HIGH), target, _f("C", Severity.HIGH)], stage="iac",
                           fail_on=Severity.LOW, suppressions=active, ctx=CTX)
    by = {g.finding.rule_id: g for g in gated}
    assert not by["A"].blocking and by["A"].suppressed_by.rule == "A"
    assert not by["B"].blocking and by["B"].suppressed_by.path == "charts/*"
    assert by["C"].blocking


@pytest.mark.parametrize("body, needle", [
    ("suppressions: [{rule: A, expires: 2999-01-01}]", "reason"),
    ("suppressions: [{rule: A, reason: because}]", "expires"),
    ("suppressions: [{reason: because, expires: 2999-01-01}]", "at least one of"),
    ("suppressions: [{rule: A, reason: because, expires: someday}]", "expires"),
    ("version: 9\nsuppressions: []", "version 9"),
])
def test_bad_suppression_files(tmp_path: Path, body: str, needle: str) -> None:
    sup = tmp_path / "s.yml"
    sup.write_text(body)
    with pytest.raises(ConfigError, match=needle):
        load_suppressions(sup)


def test_stage_status_errors_outrank_findings() -> None:
    ok = ToolResult("a", "s", ToolStatus.OK)
    err = ToolResult("b", "s", ToolStatus.ERROR, error="missing")
    blocking = judge_findings([_f("A", Severity.HIGH)], stage="s", fail_on=Severity.LOW,
                              suppressions=[], ctx=CTX)
    assert stage_status([ok, err], blocking, "enforce") is StageStatus.ERROR
    assert stage_status([ok], blocking, "enforce") is StageStatus.FAILED
    assert stage_status([ok], blocking, "advisory") is StageStatus.ADVISORY
    assert stage_status([ok], [], "enforce") is StageStatus.PASSED


def test_stage_whose_tools_were_all_skipped_is_skipped_not_passed() -> None:
    skipped = ToolResult("hadolint", "dockerfile", ToolStatus.SKIPPED,
                         error="no Dockerfile found under the scanned path")
    ok = ToolResult("checkov", "iac", ToolStatus.OK)
    assert stage_status([skipped], [], "enforce") is StageStatus.SKIPPED
    assert stage_status([skipped, ok], [], "enforce") is StageStatus.PASSED


def test_new_only_blocks_only_what_the_baseline_lacks() -> None:
    old, new = _f("A", Severity.HIGH), _f("B", Severity.HIGH)
    from secpipe.model.asff import finding_id
    baseline = {finding_id(old, CTX)}
    gated = {g.finding.rule_id: g for g in judge_findings(
        [old, new], stage="iac", fail_on=Severity.LOW, suppressions=[], ctx=CTX,
        baseline=baseline, new_only=True)}
    assert not gated["A"].blocking and gated["A"].is_new is False
    assert gated["B"].blocking and gated["B"].is_new is True


def test_new_only_without_baseline_blocks_everything() -> None:
    gated = judge_findings([_f("A", Severity.HIGH)], stage="iac", fail_on=Severity.LOW,
                           suppressions=[], ctx=CTX, baseline=None, new_only=True)
    assert gated[0].blocking and gated[0].is_new is None


def test_a_suppression_by_id_covers_the_whole_issue_and_rules_stay_per_finding() -> None:
    from secpipe.pipeline.result import Suppression

    a = _f("DL3020", Severity.HIGH, "Dockerfile").with_(tool="hadolint", issue_key="issue/1")
    b = _f("CKV_DOCKER_4", Severity.HIGH, "Dockerfile").with_(issue_key="issue/1")
    c = _f("DS-0005", Severity.HIGH, "Dockerfile").with_(tool="trivy", issue_key="issue/1")
    d = _f("CKV_X", Severity.HIGH, "Dockerfile").with_(issue_key="issue/2")
    by_id = Suppression(reason="accepted, SEC-9", expires="2999-01-01", id=a.fingerprint())
    gated = judge_findings([a, b, c, d], stage="iac", fail_on=Severity.LOW,
                           suppressions=[by_id], ctx=CTX)
    by = {g.finding.rule_id: g for g in gated}
    assert all(by[r].suppressed_by is by_id and not by[r].blocking
               for r in ("DL3020", "CKV_DOCKER_4", "DS-0005"))
    assert by["CKV_X"].blocking
    by_rule = Suppression(reason="accepted, SEC-9", expires="2999-01-01", rule="DL3020")
    gated = judge_findings([a, b, c], stage="iac", fail_on=Severity.LOW,
                           suppressions=[by_rule], ctx=CTX)
    assert sorted(g.finding.rule_id for g in gated if g.blocking) == ["CKV_DOCKER_4", "DS-0005"]
