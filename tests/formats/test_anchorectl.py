from __future__ import annotations

import json

import pytest

from secpipe.formats import ReportFormatError, get_format, sniff
from secpipe.formats.interface import Document
from secpipe.model import Category, Severity, to_asff
from tests.asserts import CTX, assert_valid_asff
from tests.conftest import manifest, shared_fixture_dir

FMT = get_format("anchorectl")


def _parse(name: str):
    return FMT.parse((shared_fixture_dir("anchorectl_vulns") / name).read_bytes(), name)


def test_shared_fixtures_match_manifest() -> None:
    folder = shared_fixture_dir("anchorectl_vulns")
    expected = manifest("anchorectl_vulns")
    assert len(expected) == 2
    for name, count in expected.items():
        data = (folder / name).read_bytes()
        findings = FMT.parse(data, name)
        assert len(findings) == int(count), name
        assert sniff(data, name).name == "anchorectl", name
        assert_valid_asff(findings)


def test_one_vuln() -> None:
    (finding,) = _parse("one_vuln.json")
    # DefectDojo: title 'CVE-2011-3389 - libgnutls30-3.5.8-5+deb9u4(dpkg)', severity Medium
    assert finding.title == "CVE-2011-3389 libgnutls30 3.5.8-5+deb9u4"
    assert finding.severity is Severity.MEDIUM and finding.category is Category.VULNERABILITY
    assert "That test description" in finding.description
    assert to_asff(finding, CTX)["Vulnerabilities"][0]["Id"] == "CVE-2011-3389"


def test_fixes_and_camel_case_scores() -> None:
    findings = _parse("many_vulns.json")
    assert findings[0].remediation is None  # DefectDojo: findings[0].fix_available=False
    assert findings[3].remediation == "Upgrade libsystemd0 to 232-25+deb9u10."
    jersey = next(f for f in findings if f.rule_id == "VULNDB-103881")
    assert jersey.vulnerabilities[0].cvss_score == 5.0  # vendorData[].cvssV2.baseScore


def test_wrapped_in_the_api_object() -> None:
    entry = json.loads((shared_fixture_dir("anchorectl_vulns") / "one_vuln.json").read_bytes())[0]
    doc = {"imageDigest": "sha256:abc", "vulnerabilityType": "all", "vulnerabilities": [entry]}
    data = json.dumps(doc).encode()
    (finding,) = FMT.parse(data, "wrapped.json")
    assert finding.resource.type == "Container" and finding.resource.id == "sha256:abc"
    assert sniff(data, "wrapped.json").name == "anchorectl"
    empty = json.dumps({"imageDigest": "sha256:abc", "vulnerabilityType": "all",
                        "vulnerabilities": []}).encode()
    assert FMT.parse(empty, "e.json") == [] and sniff(empty, "e.json").name == "anchorectl"


@pytest.mark.parametrize("bad", [
    b"", b"{", b"42", b'{"imageDigest": "x"}', b'[{"severity": "High"}]', b"[1]",
    b'{"metadata": {}, "securityEvaluation": []}',
])
def test_malformed_reports_raise_format_error(bad: bytes) -> None:
    with pytest.raises(ReportFormatError) as err:
        FMT.parse(bad, "broken.json")
    assert "broken.json" in str(err.value)


def test_sniff_leaves_anchore_engine_alone() -> None:
    data = (shared_fixture_dir("anchore_engine") / "many_vulns.json").read_bytes()
    assert not FMT.sniff(Document(data))
