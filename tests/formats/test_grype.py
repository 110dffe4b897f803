from __future__ import annotations

import json

import pytest

from secpipe.formats import ReportFormatError, get_format, sniff
from secpipe.formats.interface import Document
from secpipe.model import Severity, to_asff
from tests.asserts import CTX, assert_valid_asff
from tests.conftest import manifest, shared_fixture_dir

FMT = get_format("grype")


def _parse(name: str):
    return FMT.parse((shared_fixture_dir("anchore_grype") / name).read_bytes(), name)


def test_shared_fixtures_match_manifest() -> None:
    # DefectDojo merges one CVE found at several paths of one package; no fixture has such a
    # case, so its counts equal one finding per match (which is what secpipe reports).
    folder = shared_fixture_dir("anchore_grype")
    expected = manifest("anchore_grype")
    assert len(expected) == 10
    for name, count in expected.items():
        data = (folder / name).read_bytes()
        findings = FMT.parse(data, name)
        if count != "unknown":
            assert len(findings) == int(count), name
        else:
            assert len(findings) == 1, name  # the three check_all_fields files
        assert sniff(data, name).name == "grype", name
        assert_valid_asff(findings)
        assert len({f.fingerprint() for f in findings}) == len(findings), name


def test_fix_state() -> None:
    (fixed,) = _parse("fix_available.json")
    assert fixed.vulnerabilities[0].fixed_version == "1.2.3"
    assert fixed.remediation == "Upgrade java to 1.2.3."
    assert fixed.properties["FixState"] == "fixed"
    (unfixed,) = _parse("fix_not_available.json")
    assert unfixed.vulnerabilities[0].fixed_version is None and unfixed.remediation is None
    assert "\x00" not in unfixed.title  # grype printed a NUL inside the version


def test_ghsa_match_is_titled_by_its_cve() -> None:
    (finding,) = _parse("check_all_fields_with_ids_fabricated.json")
    assert finding.rule_id == "CVE-2021-44420"
    assert finding.title == "CVE-2021-44420 Django 3.2.9"
    vuln = to_asff(finding, CTX)["Vulnerabilities"][0]
    assert vuln["Id"] == "CVE-2021-44420"
    assert vuln["RelatedVulnerabilities"] == ["GHSA-v6rh-hp5x-86rv"]
    assert vuln["Cvss"][0]["BaseScore"] == 7.3  # the related record's v3.1 over its v2
    assert finding.resource.type == "Container" and finding.resource.id == "vulnerable-image:latest"
    assert finding.resource.details["purl"] == "pkg:pypi/Django@3.2.9"


def test_many_vulns3() -> None:
    findings = _parse("many_vulns3.json")
    # DefectDojo: CVE-2011-3389 finding: Medium, libgnutls30 3.6.7-4+deb10u5
    (gnutls,) = [f for f in findings if f.rule_id == "CVE-2011-3389"]
    assert gnutls.severity is Severity.MEDIUM
    assert gnutls.title == "CVE-2011-3389 libgnutls30 3.6.7-4+deb10u5"


def test_epss_and_no_source() -> None:
    (finding,) = _parse("anchore_grype_epss_problem.json")
    assert finding.properties["EPSS"] == "0.00163"
    assert finding.properties["EPSSPercentile"] == "0.37957"
    assert finding.resource.type == "Other" and finding.resource.id.startswith("pkg:golang/")
    findings = _parse("many_vulns_with_epss_values.json")
    assert findings[0].rule_id == "CVE-2022-28391" and findings[0].properties["EPSS"] == "0.0719"


def _match(severity: str, cvss: list) -> dict:
    return {"vulnerability": {"id": "CVE-2020-1", "severity": severity, "cvss": cvss,
                              "fix": {"versions": [], "state": "not-fixed"}},
            "relatedVulnerabilities": [], "matchDetails": [],
            "artifact": {"name": "lib", "version": "1.0", "type": "npm",
                         "locations": [{"path": "/app/package-lock.json"}],
                         "purl": "pkg:npm/lib@1.0"}}


@pytest.mark.parametrize("severity, cvss, expected", [
    ("Critical", [], Severity.CRITICAL), ("High", [], Severity.HIGH),
    ("Medium", [], Severity.MEDIUM), ("Low", [], Severity.LOW),
    ("Negligible", [], Severity.INFORMATIONAL), ("Unknown", [], Severity.INFORMATIONAL),
    ("Unknown", [{"version": "3.1", "vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                  "metrics": {"baseScore": 9.8}}], Severity.CRITICAL),
])
def test_severity_mapping(severity: str, cvss: list, expected: Severity) -> None:
    doc = {"matches": [_match(severity, cvss)], "source": {"type": "directory", "target": "."},
           "descriptor": {"name": "grype", "version": "0.74.0"}}
    (finding,) = FMT.parse(json.dumps(doc).encode(), "g.json")
    assert finding.severity is expected
    assert finding.location.path == "app/package-lock.json"  # a directory scan has a path


@pytest.mark.parametrize("bad", [
    b"", b"{", b"[]", b'{"source": {}}', b'{"matches": {}}', b'{"matches": [1]}',
    b'{"matches": [{"vulnerability": {"id": "CVE-1"}}]}',
    b'{"matches": [{"vulnerability": {}, "artifact": {}}]}',
])
def test_malformed_reports_raise_format_error(bad: bytes) -> None:
    with pytest.raises(ReportFormatError) as err:
        FMT.parse(bad, "broken.json")
    assert "broken.json" in str(err.value)


def test_sniff_leaves_other_json_alone() -> None:
    assert not FMT.sniff(Document(b'{"matches": [{"rule": "x"}]}'))
    assert not FMT.sniff(Document(b'{"results": []}'))
