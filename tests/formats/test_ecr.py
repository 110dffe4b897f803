"""ECR scan findings. No real report was available: tests/fixtures/ecr/ holds small reports
written by hand from the documented response shape (see its README)."""

from __future__ import annotations

import json

import pytest

from secpipe.formats import ReportFormatError, get_format, sniff
from secpipe.formats.interface import Document
from secpipe.model import Severity, to_asff
from tests.asserts import CTX, assert_valid_asff
from tests.conftest import OWN_FIXTURES

FMT = get_format("ecr")
OWN = OWN_FIXTURES / "ecr"


def _load(name: str) -> dict:
    return json.loads((OWN / name).read_bytes())


def _parse(doc: object, name: str = "ecr.json"):
    return FMT.parse(json.dumps(doc).encode(), name)


def test_own_fixtures_parse_and_sniff() -> None:
    for name, count in {"basic.json": 3, "enhanced.json": 2}.items():
        data = (OWN / name).read_bytes()
        findings = FMT.parse(data, name)
        assert len(findings) == count, name  # enhanced.json: the CLOSED finding is dropped
        assert sniff(data, name).name == "ecr"
        assert_valid_asff(findings)


def test_basic_findings() -> None:
    e2fs, zlib, apt = FMT.parse((OWN / "basic.json").read_bytes(), "basic.json")
    assert e2fs.title == "CVE-2019-5188 e2fsprogs 1.44.1-1ubuntu1.1"
    assert e2fs.severity is Severity.MEDIUM
    assert (e2fs.vulnerabilities[0].cvss_score, e2fs.vulnerabilities[0].cvss_vector) == (
        4.6, "AV:L/AC:L/Au:N/C:P/I:P/A:P")
    assert e2fs.resource.type == "Container" and e2fs.resource.id == "web:1.4.2"
    assert e2fs.remediation is None  # basic scanning reports no fixed version
    assert e2fs.remediation_url == "http://people.ubuntu.com/~ubuntu-security/cve/CVE-2019-5188"
    assert zlib.severity is Severity.CRITICAL and zlib.vulnerabilities[0].cvss_score == 9.8
    assert apt.severity is Severity.MEDIUM and apt.severity_original == "UNDEFINED"  # from 4.3
    assert to_asff(zlib, CTX)["Vulnerabilities"][0]["Id"] == "CVE-2022-37434"


def test_enhanced_findings() -> None:
    lodash, openssl = FMT.parse((OWN / "enhanced.json").read_bytes(), "enhanced.json")
    assert lodash.title == "CVE-2021-23337 lodash 4.17.20"
    assert lodash.severity is Severity.HIGH
    assert lodash.remediation == "Upgrade lodash to 4.17.21."
    assert lodash.vulnerabilities[0].aliases == ("GHSA-35jh-r3h4-6jhm",)
    # named like basic findings, the digest ARN kept in the details
    assert lodash.resource.type == "Container" and lodash.resource.id == "web:1.4.2"
    assert lodash.resource.details["arn"].startswith("arn:aws:ecr:us-east-1:")
    assert openssl.severity is Severity.HIGH and openssl.severity_original == "UNTRIAGED"
    assert {v.package for v in openssl.vulnerabilities} == {"openssl", "libssl3"}
    assert lodash.tool == "ecr"


def test_pages_and_the_inner_object() -> None:
    basic, enhanced = _load("basic.json"), _load("enhanced.json")
    assert len(_parse([basic, enhanced])) == 5
    assert sniff(json.dumps([basic, enhanced]).encode()).name == "ecr"
    assert len(_parse(basic["imageScanFindings"])) == 3
    empty = {"imageScanFindings": {"findings": [], "findingSeverityCounts": {}},
             "repositoryName": "web", "imageId": {"imageTag": "1"},
             "imageScanStatus": {"status": "COMPLETE"}}
    assert _parse(empty) == [] and sniff(json.dumps(empty).encode()).name == "ecr"


@pytest.mark.parametrize("status", ["FAILED", "IN_PROGRESS", "UNSUPPORTED_IMAGE",
                                    "FINDINGS_UNAVAILABLE", "SCAN_ELIGIBILITY_EXPIRED"])
def test_an_unfinished_scan_is_an_error_not_a_pass(status: str) -> None:
    doc = {"imageScanFindings": {"findings": []}, "repositoryName": "web",
           "imageScanStatus": {"status": status, "description": "why"}}
    with pytest.raises(ReportFormatError, match=f"scan.json: .*{status}: why"):
        _parse(doc, "scan.json")


@pytest.mark.parametrize("word, expected", [
    ("CRITICAL", Severity.CRITICAL), ("HIGH", Severity.HIGH), ("MEDIUM", Severity.MEDIUM),
    ("LOW", Severity.LOW), ("INFORMATIONAL", Severity.INFORMATIONAL),
    ("UNDEFINED", Severity.INFORMATIONAL),
])
def test_severity_mapping(word: str, expected: Severity) -> None:
    doc = {"imageScanFindings": {"findings": [{"name": "CVE-2020-1", "severity": word,
                                                "attributes": []}]}}
    (finding,) = _parse(doc)
    assert finding.severity is expected


@pytest.mark.parametrize("bad", [
    b"", b"{", b"3", b"{}", b"[]", b'{"imageScanFindings": []}', b'[{"imageScanFindings": {}}, 1]',
    b'{"imageScanFindings": {"findings": [{"severity": "HIGH"}]}}',
    b'{"imageScanFindings": {"findings": [{"name": "CVE-1", "attributes": {}}]}}',
    b'{"imageScanFindings": {"enhancedFindings": [{"type": "PACKAGE_VULNERABILITY"}]}}',
])
def test_malformed_reports_raise_format_error(bad: bytes) -> None:
    with pytest.raises(ReportFormatError) as err:
        FMT.parse(bad, "broken.json")
    assert "broken.json" in str(err.value)


def test_sniff_leaves_inspector_alone() -> None:
    assert not FMT.sniff(Document(b'{"findings": []}'))
    assert not FMT.sniff(Document(b'[]'))
