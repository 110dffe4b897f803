from __future__ import annotations

import json

import pytest

from secpipe.formats import ReportFormatError, get_format, sniff
from secpipe.formats.interface import Document
from secpipe.model import (
    Category, Finding, Location, Resource, Severity, Vulnerability, from_asff, to_asff,
)
from secpipe.model.secret import Secret
from tests.asserts import CTX, assert_valid_asff
from tests.conftest import manifest, shared_fixture_dir

FMT = get_format("asff")


def _parse(tool: str, name: str):
    return FMT.parse((shared_fixture_dir(tool) / name).read_bytes(), name)


@pytest.mark.parametrize("tool", ["asff", "awssecurityhub"])
def test_shared_fixtures_match_manifest(tool: str) -> None:
    folder = shared_fixture_dir(tool)
    expected = manifest(tool)
    assert expected, f"MANIFEST.tsv lists no {tool} fixture"
    for name, count in expected.items():
        data = (folder / name).read_bytes()
        findings = FMT.parse(data, name)
        if count != "unknown":
            # PASSED controls count too, as in DefectDojo: they are kept with their state
            assert len(findings) == int(count), name
        assert sniff(data, name).name == "asff", name
        assert_valid_asff(findings)


def test_asff_fixture_details() -> None:
    (one,) = _parse("asff", "one_vuln.json")
    assert one.title.startswith("CVE-2017-9735") and one.severity is Severity.HIGH
    assert one.tool == "inspector" and one.category is Category.VULNERABILITY
    (gd,) = _parse("asff", "guardduty/Unusual Behaviors-User-Persistence IAMUser-NetworkPermissions.json")
    assert gd.tool == "guardduty"  # no ProductName: taken from the ProductArn
    assert gd.location_key.startswith("asff:arn:aws:guardduty:")


def test_security_hub_details() -> None:
    (passed,) = _parse("awssecurityhub", "config_one_finding.json")
    assert passed.severity is Severity.INFORMATIONAL
    assert passed.properties["ComplianceStatus"] == "PASSED"
    assert passed.resource.type == "AwsAccount"
    assert passed.rule_id == "aws-foundational-security-best-practices/v/1.0.0/IAM.5"
    assert passed.category is Category.COMPLIANCE
    assert passed.properties["AsffId"].endswith("IAM.5/finding/de861909-2d26-4e45-bd86-19d2ab6ceef1")
    (active,) = _parse("awssecurityhub", "config_one_finding_active.json")
    assert active.severity is Severity.MEDIUM
    gd = _parse("awssecurityhub", "guardduty.json")
    assert gd[0].severity is Severity.MEDIUM and gd[3].severity is Severity.LOW
    assert gd[3].title.startswith("User AssumedRole : 123123123 is anomalously invoking APIs")
    ec2 = _parse("awssecurityhub", "inspector_ec2_cve.json")
    assert ec2[0].title == "CVE-2022-3643 - kernel"
    vuln = ec2[0].vulnerabilities[0]
    assert vuln.id == "CVE-2022-3643" and vuln.package == "kernel"
    assert vuln.cvss_vector == "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H"
    (ghsa,) = _parse("awssecurityhub", "inspector_ec2_ghsa.json")
    assert ghsa.severity is Severity.MEDIUM
    assert {ghsa.vulnerabilities[0].id, *ghsa.vulnerabilities[0].aliases} == {
        "GHSA-p98r-538v-jgw5", "CVE-2023-34256"}
    ecr = _parse("awssecurityhub", "inspector_ecr.json")
    assert ecr[0].severity is Severity.MEDIUM and ecr[0].resource.type == "AwsEcrContainerImage"
    assert ecr[0].vulnerabilities[0].cvss_score == 6.5


def test_our_own_findings_come_back() -> None:
    original = Finding(
        tool="semgrep", rule_id="r.x", title="T", description="D", severity=Severity.HIGH,
        category=Category.SECRET, location=Location("a.py", 3, 5),
        secret=Secret.from_value("AKIAQWERTYUIOPASDFGH"), cwe=("CWE-798",),
        references=("https://x",), properties={"format": "semgrep", "engine_kind": "OSS"},
    )
    obj = to_asff(original, CTX)
    back = from_asff(obj)
    assert (back.tool, back.rule_id, back.severity, back.category) == (
        "semgrep", "r.x", Severity.HIGH, Category.SECRET)
    assert back.location == Location("a.py", 3, 5)
    assert back.cwe == ("CWE-798",) and back.references == ("https://x",)
    assert back.properties["engine_kind"] == "OSS"
    assert back.fingerprint() == original.fingerprint()
    # a location key written by a newer to_asff is honoured
    obj["ProductFields"]["secpipe/LocationKey"] = "k"
    assert from_asff(obj).location_key == "k"
    parsed = FMT.parse(json.dumps([obj]).encode(), "ours.json")
    assert parsed[0].tool == "semgrep"


def test_shapes() -> None:
    obj = to_asff(Finding(tool="t", rule_id="r", title="x", severity=Severity.LOW,
                          vulnerabilities=(Vulnerability("CVE-1-2", cvss_score=5.0),)), CTX)
    for doc in ([obj], {"Findings": [obj]}, {"findings": [obj]}, obj):
        (f,) = FMT.parse(json.dumps(doc).encode(), "s.json")
        assert f.severity is Severity.LOW and f.vulnerabilities[0].cvss_score == 5.0
        assert FMT.sniff(Document(json.dumps(doc).encode()))
    assert FMT.parse(b'{"Findings": []}', "empty.json") == []


@pytest.mark.parametrize("label, normalized, expected", [
    ("CRITICAL", None, Severity.CRITICAL), (None, 75, Severity.HIGH),
    (None, 40, Severity.MEDIUM), (None, None, Severity.INFORMATIONAL),
])
def test_severity(label: str | None, normalized: int | None, expected: Severity) -> None:
    sev = {k: v for k, v in (("Label", label), ("Normalized", normalized)) if v is not None}
    doc = {"Id": "x", "ProductArn": "arn:aws:securityhub:us-east-1::product/aws/inspector",
           "Title": "t", "Severity": sev}
    (f,) = FMT.parse(json.dumps(doc).encode(), "s.json")
    assert f.severity is expected and f.tool == "inspector"


@pytest.mark.parametrize("bad", [
    b"", b"{", b"1", b'{"a": 1}', b"[1]", b'[{"Title": "t"}]', b'[{"Id": "x", "Title": "t"}]',
    b'[{"Id": "x", "GeneratorId": "g"}]', b'{"Findings": {}}',
    b'[{"Id": "x", "GeneratorId": "g", "Title": "t", "Resources": {}}]',
    b'[{"Id": "x", "GeneratorId": "g", "Title": "t", "Severity": "HIGH"}]',
])
def test_malformed_reports_raise_format_error(bad: bytes) -> None:
    with pytest.raises(ReportFormatError) as err:
        FMT.parse(bad, "broken.json")
    assert "broken.json" in str(err.value)


@pytest.mark.parametrize("finding", [
    Finding(tool="t", rule_id="r", title="x", severity=Severity.LOW),
    Finding(tool="t", rule_id="r", title="x", severity=Severity.LOW,
            resource=Resource("Other", "Deployment:web", {"kind": "Deployment"}),
            location=Location("k.yaml", 4), location_key=None),
])
def test_identity_round_trips(finding: Finding) -> None:
    assert from_asff(to_asff(finding, CTX)).fingerprint() == finding.fingerprint()
