"""snyk test --json. The fixtures are HAND-WRITTEN from the documented shape (see
tests/fixtures/snyk/README.md): no real Snyk report can be produced on these machines."""

from __future__ import annotations

import json

import pytest

from secpipe.formats import ReportFormatError, get_format, sniff
from secpipe.model import Category, Severity, to_asff
from tests.asserts import CTX, assert_valid_asff
from tests.conftest import OWN_FIXTURES

FMT = get_format("snyk")
FOLDER = OWN_FIXTURES / "snyk"


def _parse(name: str):
    return FMT.parse((FOLDER / name).read_bytes(), name)


def test_one_finding_per_issue_not_per_dependency_path() -> None:
    findings = _parse("npm-hand-written.json")
    # 4 entries: lodash twice (two paths), minimist, a licence issue -> 3 issues + 1 licence
    assert len(findings) == 3
    assert_valid_asff(findings)
    lodash = findings[0]
    assert lodash.title == "CVE-2020-8203 lodash 4.17.15"
    assert lodash.severity is Severity.HIGH and lodash.severity_original == "high"
    assert lodash.cwe == ("CWE-400",)
    assert "2 path(s)" in lodash.description
    assert lodash.resource.id == "pkg:npm/lodash@4.17.15"
    assert lodash.vulnerabilities[0].fixed_version == "4.17.16"
    assert "SNYK-JS-LODASH-567746" in lodash.vulnerabilities[0].aliases
    assert lodash.remediation.startswith("Upgrade lodash@4.17.16")
    vuln = to_asff(lodash, CTX)["Vulnerabilities"][0]
    assert vuln["Id"] == "CVE-2020-8203" and vuln["Cvss"][0]["BaseScore"] == 7.3


def test_licence_issues_are_compliance_findings() -> None:
    licence = _parse("npm-hand-written.json")[2]
    assert licence.category is Category.COMPLIANCE
    assert licence.title == "GPL-3.0 license gpl-lib 0.3.0"
    assert licence.severity is Severity.MEDIUM


def test_all_projects_array() -> None:
    findings = _parse("all-projects-hand-written.json")
    assert len(findings) == 1
    (django,) = findings
    assert django.severity is Severity.CRITICAL
    assert django.resource.id == "pkg:pypi/django@3.2.9"
    assert_valid_asff(findings)


@pytest.mark.parametrize("word, expected", [
    ("low", Severity.LOW), ("medium", Severity.MEDIUM), ("high", Severity.HIGH),
    ("critical", Severity.CRITICAL),
])
def test_severity_mapping(word: str, expected: Severity) -> None:
    doc = {"vulnerabilities": [{"id": "SNYK-X-1", "severity": word, "packageName": "p",
                                "version": "1"}], "packageManager": "npm",
           "dependencyCount": 1}
    (finding,) = FMT.parse(json.dumps(doc).encode(), "s.json")
    assert finding.severity is expected


def test_sniffing_picks_snyk() -> None:
    for name in ("npm-hand-written.json", "all-projects-hand-written.json"):
        assert sniff((FOLDER / name).read_bytes(), name).name == "snyk"


def test_a_clean_project_is_no_findings() -> None:
    doc = {"ok": True, "vulnerabilities": [], "packageManager": "npm", "dependencyCount": 3}
    assert FMT.parse(json.dumps(doc).encode(), "clean.json") == []


@pytest.mark.parametrize("bad", [
    b"", b"{", b"3", b"[]", b"{}", b'{"vulnerabilities": {}}', b'{"vulnerabilities": [1]}',
    b'{"vulnerabilities": [{"title": "no id"}]}', b'[{"ok": true}]',
    b'{"ok": false, "error": "Could not detect supported target files"}',
])
def test_malformed_reports_raise_format_error(bad: bytes) -> None:
    with pytest.raises(ReportFormatError) as err:
        FMT.parse(bad, "broken.json")
    assert "broken.json" in str(err.value)
