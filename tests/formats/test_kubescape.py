from __future__ import annotations

import json

import pytest

from secpipe.formats import ReportFormatError, get_format, sniff
from secpipe.model import Severity
from tests.asserts import assert_valid_asff
from tests.conftest import manifest, shared_fixture_dir

FMT = get_format("kubescape")

# DefectDojo emits one finding per failed *rule* of a control; a CIS control such as
# CIS-5.7.3 bundles up to six rules, giving up to six identical-looking findings for one
# resource. We emit one per failed (resource, control) and list the failed rules in it.
DELIBERATE = {"many_findings.json": 289}


def test_shared_fixtures_match_manifest() -> None:
    folder = shared_fixture_dir("kubescape")
    expected = manifest("kubescape")
    assert expected, "MANIFEST.tsv lists no kubescape fixture"
    for name, count in expected.items():
        data = (folder / name).read_bytes()
        findings = FMT.parse(data, name)
        if name in DELIBERATE:
            assert int(count) == 349
            assert len(findings) == DELIBERATE[name], name
        elif count != "unknown":
            assert len(findings) == int(count), name
        assert sniff(data, name).name == "kubescape", name
        assert_valid_asff(findings)
        assert len({f.fingerprint() for f in findings}) == len(findings), name


def test_failed_controls_and_details() -> None:
    data = (shared_fixture_dir("kubescape") / "with_a_failure.json").read_bytes()
    findings = FMT.parse(data, "with_a_failure.json")
    assert [f.rule_id for f in findings] == ["C-0030", "C-0055", "C-0260"]
    hardening = next(f for f in findings if f.rule_id == "C-0055")
    assert hardening.title == "Linux hardening - Deployment nginx-deployment"
    assert hardening.resource.id == "Deployment:nginx-deployment"
    assert hardening.location.path == "nginx.yaml"
    assert hardening.severity is Severity.MEDIUM  # scoreFactor 4
    assert "seccompProfile" in hardening.description
    assert hardening.remediation_url == "https://hub.armosec.io/docs/c-0055"


def test_status_from_rules_when_control_has_none() -> None:
    data = (shared_fixture_dir("kubescape") / "many_findings.json").read_bytes()
    findings = FMT.parse(data, "many_findings.json")
    cis = [f for f in findings if f.rule_id == "CIS-5.7.3"]
    assert cis and "Failed rules:" in cis[0].description


def _report(factor: object, status: object = {"status": "failed"}) -> bytes:
    return json.dumps({
        "summaryDetails": {"controls": {"C-0001": {"controlID": "C-0001", "scoreFactor": factor,
                                                   "description": "d"}}},
        "resources": [{"resourceID": "apps/v1/prod/Deployment/web",
                       "object": {"kind": "Deployment", "metadata": {"name": "web", "namespace": "prod"}}}],
        "results": [{"resourceID": "apps/v1/prod/Deployment/web",
                     "controls": [{"controlID": "C-0001", "name": "Ctl", "status": status,
                                   "rules": [{"name": "r", "status": "failed"}]}]}],
    }).encode()


@pytest.mark.parametrize("factor, expected", [
    (10, Severity.CRITICAL), (9, Severity.CRITICAL), (8, Severity.HIGH), (7, Severity.HIGH),
    (6, Severity.MEDIUM), (4, Severity.MEDIUM), (3, Severity.LOW), (1, Severity.LOW),
    (0, Severity.INFORMATIONAL), (None, Severity.MEDIUM),
])
def test_severity_from_score_factor(factor: object, expected: Severity) -> None:
    (finding,) = FMT.parse(_report(factor), "k.json")
    assert finding.severity is expected
    assert finding.resource.id == "Deployment:prod/web"


def test_passed_or_excluded_controls_are_not_findings() -> None:
    assert FMT.parse(_report(5, {"status": "passed"}), "k.json") == []
    assert FMT.parse(_report(5, {"status": "excluded"}), "k.json") == []


@pytest.mark.parametrize("bad", [
    b"", b"{", b"[]", b'{"a": 1}', b'{"summaryDetails": [], "results": []}',
    b'{"summaryDetails": {}, "results": [{"controls": []}]}',
    b'{"summaryDetails": {}, "results": [{"resourceID": "x", "controls": [{"status": {"status": "failed"}}]}]}',
    b'{"summaryDetails": {}, "results": {}}',
])
def test_malformed_reports_raise_format_error(bad: bytes) -> None:
    with pytest.raises(ReportFormatError) as err:
        FMT.parse(bad, "broken.json")
    assert "broken.json" in str(err.value)
