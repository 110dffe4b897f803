from __future__ import annotations

import json

import pytest

from secpipe.formats import ReportFormatError, get_format, sniff
from secpipe.formats.interface import Document
from secpipe.model import Severity, to_asff
from tests.asserts import CTX, assert_valid_asff
from tests.conftest import manifest, shared_fixture_dir

FMT = get_format("npm-audit")

# Where our count differs from DefectDojo's on purpose:
# multiple_cwes.json: three advisories hit two installed versions of their package (ansi-regex
# 3.0.0 and 4.1.0, ajv 6.10.0 and 5.5.2, minimist 0.0.8 and 0.0.10). Each installed version needs
# its own upgrade and is its own purl, so secpipe reports one finding per advisory and version;
# DefectDojo merges them per advisory: 41 + 3.
# many_vuln_npm7.json: DefectDojo's npm 6 parser refuses npm 7 reports (its MANIFEST "error");
# secpipe reads both shapes: 8 advisories.
DELIBERATE = {"multiple_cwes.json": 44, "many_vuln_npm7.json": 8}
ERRORS = {"empty_with_error.json"}  # npm's ENOAUDIT error object


def _parse(folder: str, name: str):
    return FMT.parse((shared_fixture_dir(folder) / name).read_bytes(), name)


@pytest.mark.parametrize("folder, files", [("npm_audit", 9), ("npm_audit_7_plus", 3)])
def test_shared_fixtures_match_manifest(folder: str, files: int) -> None:
    path = shared_fixture_dir(folder)
    expected = manifest(folder)
    assert len(expected) == files
    for name, count in expected.items():
        data = (path / name).read_bytes()
        assert sniff(data, name).name == "npm-audit", name
        if name in ERRORS:
            assert count == "error"
            with pytest.raises(ReportFormatError, match="ENOAUDIT"):
                FMT.parse(data, name)
            continue
        findings = FMT.parse(data, name)
        if name in DELIBERATE:
            assert len(findings) == DELIBERATE[name], name
        elif count != "unknown":
            assert len(findings) == int(count), name
        else:
            assert len(findings) == 5, name  # the two many_vuln_with_groups files
        assert_valid_asff(findings)
        assert len({f.fingerprint() for f in findings}) == len(findings), name


def test_v6_one_vuln() -> None:
    (finding,) = _parse("npm_audit", "one_vuln.json")
    # DefectDojo: cwe 94, growl 1.9.2
    assert finding.title == "CVE-2017-16042 growl 1.9.2"
    assert finding.severity is Severity.CRITICAL and finding.cwe == ("CWE-94",)
    assert finding.remediation == "Upgrade growl to 1.10.2."
    assert finding.resource.id == "pkg:npm/growl@1.9.2"
    assert finding.properties["NpmAuditFix"] == "install mocha-jenkins-reporter@0.3.12"
    assert to_asff(finding, CTX)["Vulnerabilities"][0]["Id"] == "CVE-2017-16042"
    (null_cwe,) = _parse("npm_audit", "cwe_null.json")
    assert null_cwe.cwe == ()


def test_v6_many() -> None:
    findings = _parse("npm_audit", "many_vuln.json")
    by_package = {f.vulnerabilities[0].package: f for f in findings}
    # DefectDojo: findings[4] mime 1.3.4; CVE-2017-16138 (mime), CVE-2017-16119 (fresh)
    assert by_package["mime"].rule_id == "CVE-2017-16138"
    assert by_package["mime"].vulnerabilities[0].version == "1.3.4"
    assert by_package["fresh"].rule_id == "CVE-2017-16119"
    cwes = _parse("npm_audit", "multiple_cwes.json")
    assert cwes[0].cwe == ("CWE-400",)  # DefectDojo: findings[0].cwe 400
    assert cwes[0].vulnerabilities[0].aliases == ("GHSA-whgm-jr23-g3j9",)
    versions = {f.vulnerabilities[0].version for f in cwes if f.vulnerabilities[0].package == "ansi-regex"}
    assert versions == {"3.0.0", "4.1.0"}


def test_v7() -> None:
    (got,) = _parse("npm_audit_7_plus", "issue_10801.json")
    assert got.title == "GHSA-pfrx-2q88-qq97 got"  # npm 7 prints no installed version
    assert got.severity is Severity.MEDIUM  # DefectDojo: Medium
    assert got.vulnerabilities[0].fixed_version == "11.8.5"
    assert got.remediation == "Upgrade nodemon to 3.1.4 (a semver-major change)."
    assert got.vulnerabilities[0].cvss_score == 5.3
    (debug,) = _parse("npm_audit_7_plus", "multiple_cwes_fabricated.json")
    assert debug.cwe == ("CWE-400", "CWE-1333")
    # The advisory is moderate; the package entry says high because of its dependency `ms`
    # (reported under its own entry). DefectDojo takes the package's "high"; secpipe the
    # advisory's own rating.
    assert debug.severity is Severity.MEDIUM


def test_v7_effects_are_not_findings() -> None:
    doc = {"auditReportVersion": 2, "vulnerabilities": {
        "express": {"name": "express", "severity": "high", "isDirect": True, "via": ["qs"],
                    "effects": [], "range": "<4.17.3", "nodes": ["node_modules/express"],
                    "fixAvailable": True},
        "qs": {"name": "qs", "severity": "high", "isDirect": False, "via": [
            {"source": 1, "name": "qs", "dependency": "qs", "title": "qs vulnerable to Prototype Pollution",
             "url": "https://github.com/advisories/GHSA-hrpp-h998-j3pp", "severity": "high",
             "cwe": ["CWE-1321"], "cvss": {"score": 7.5, "vectorString": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"},
             "range": ">=6.7.0 <6.7.3"}], "effects": ["express"], "range": "6.7.0 - 6.7.2",
            "nodes": ["node_modules/qs"], "fixAvailable": True}}}
    (finding,) = FMT.parse(json.dumps(doc).encode(), "a.json")
    assert finding.rule_id == "GHSA-hrpp-h998-j3pp" and finding.severity is Severity.HIGH
    assert finding.vulnerabilities[0].fixed_version == "6.7.3"
    assert finding.remediation == "Run `npm audit fix`."


@pytest.mark.parametrize("word, expected", [
    ("critical", Severity.CRITICAL), ("high", Severity.HIGH), ("moderate", Severity.MEDIUM),
    ("low", Severity.LOW), ("info", Severity.INFORMATIONAL),
])
def test_severity_mapping(word: str, expected: Severity) -> None:
    doc = {"actions": [], "metadata": {}, "advisories": {"1": {
        "id": 1, "module_name": "m", "severity": word, "cves": [], "findings": [{"version": "1.0.0", "paths": ["m"]}],
        "patched_versions": "<0.0.0", "vulnerable_versions": "*", "url": "https://npmjs.com/advisories/1"}}}
    (finding,) = FMT.parse(json.dumps(doc).encode(), "a.json")
    assert finding.severity is expected and finding.rule_id == "NPM-1"
    assert finding.vulnerabilities[0].fixed_version is None  # "<0.0.0": no patch


@pytest.mark.parametrize("bad", [
    b"", b"{", b"[]", b"{}", b'{"advisories": []}', b'{"advisories": {"1": 3}}',
    b'{"advisories": {"1": {"findings": []}}}', b'{"auditReportVersion": 2, "vulnerabilities": []}',
    b'{"auditReportVersion": 2, "vulnerabilities": {"a": {"via": {}}}}',
])
def test_malformed_reports_raise_format_error(bad: bytes) -> None:
    with pytest.raises(ReportFormatError) as err:
        FMT.parse(bad, "broken.json")
    assert "broken.json" in str(err.value)


def test_sniff_leaves_other_json_alone() -> None:
    assert not FMT.sniff(Document(b'{"error": "nope"}'))
    assert not FMT.sniff(Document(b'{"advisories": {}}'))
