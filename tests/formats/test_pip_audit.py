from __future__ import annotations

import json

import pytest

from secpipe.formats import ReportFormatError, get_format, sniff
from secpipe.formats.interface import Document
from secpipe.model import Severity, to_asff
from tests.asserts import CTX, assert_valid_asff
from tests.conftest import manifest, shared_fixture_dir

FMT = get_format("pip-audit")
# `[]` is what pip-audit 1.x printed for an environment with no dependencies; it parses, but no
# sniffer can claim a bare empty array.
NOT_SNIFFED = {"empty.json"}


def _parse(name: str):
    return FMT.parse((shared_fixture_dir("pip_audit") / name).read_bytes(), name)


def test_shared_fixtures_match_manifest() -> None:
    folder = shared_fixture_dir("pip_audit")
    expected = manifest("pip_audit")
    assert len(expected) == 4
    for name, count in expected.items():
        data = (folder / name).read_bytes()
        findings = FMT.parse(data, name)
        assert len(findings) == int(count), name
        if name not in NOT_SNIFFED:
            assert sniff(data, name).name == "pip-audit", name
        assert_valid_asff(findings)


@pytest.mark.parametrize("name", ["many_vulns.json", "many_vulns_new.json"])
def test_first_finding(name: str) -> None:
    first = _parse(name)[0]
    # DefectDojo: 'PYSEC-2021-76 in aiohttp:3.6.2', Medium, 'Upgrade to version: 3.7.4'
    assert first.title == "PYSEC-2021-76 aiohttp 3.6.2"
    assert first.severity is Severity.MEDIUM and first.severity_original == "unrated"
    assert first.remediation == "Upgrade aiohttp to 3.7.4."
    assert first.resource.id == "pkg:pypi/aiohttp@3.6.2"
    assert first.remediation_url == "https://osv.dev/vulnerability/PYSEC-2021-76"


def test_aliases_put_the_cve_first() -> None:
    doc = {"dependencies": [{"name": "Django", "version": "3.2.9", "vulns": [{
        "id": "PYSEC-2021-439", "fix_versions": ["2.2.25", "3.1.14", "3.2.10"],
        "aliases": ["CVE-2021-44420", "GHSA-v6rh-hp5x-86rv"], "description": "d"}]}], "fixes": []}
    (finding,) = FMT.parse(json.dumps(doc).encode(), "p.json")
    assert finding.title == "CVE-2021-44420 Django 3.2.9"
    vuln = to_asff(finding, CTX)["Vulnerabilities"][0]
    assert vuln["Id"] == "CVE-2021-44420"
    assert vuln["RelatedVulnerabilities"] == ["PYSEC-2021-439", "GHSA-v6rh-hp5x-86rv"]
    assert finding.resource.id == "pkg:pypi/django@3.2.9"
    assert finding.vulnerabilities[0].fixed_version == "2.2.25"  # pip-audit's first (lowest)


def test_skipped_dependencies_are_not_findings() -> None:
    findings = _parse("zero_vulns_new.json")
    assert findings == []


@pytest.mark.parametrize("bad", [
    b"", b"{", b"3", b"{}", b'{"dependencies": {}}', b'{"dependencies": [1]}',
    b'{"dependencies": [{"version": "1"}]}', b'[{"name": "x", "version": "1"}]',
    b'[{"name": "x", "version": "1", "vulns": [{"fix_versions": []}]}]',
])
def test_malformed_reports_raise_format_error(bad: bytes) -> None:
    with pytest.raises(ReportFormatError) as err:
        FMT.parse(bad, "broken.json")
    assert "broken.json" in str(err.value)


def test_sniff_leaves_cyclonedx_dependencies_alone() -> None:
    assert not FMT.sniff(Document(b'{"dependencies": [{"ref": "a", "dependsOn": []}]}'))
    assert not FMT.sniff(Document(b'[{"name": "x"}]'))
