from __future__ import annotations

import json

import pytest

from secpipe.formats import ReportFormatError, get_format
from secpipe.formats.interface import Document
from secpipe.model import Category, Severity, to_asff
from tests.asserts import CTX, check_fixtures
from tests.conftest import manifest, shared_fixture_dir

FMT = get_format("anchore-engine")


def _parse(name: str):
    return FMT.parse((shared_fixture_dir("anchore_engine") / name).read_bytes(), name)


def test_shared_fixtures_match_manifest() -> None:
    folder = shared_fixture_dir("anchore_engine")
    expected = manifest("anchore_engine")
    assert len(expected) == 4
    check_fixtures(FMT, folder, expected)
    # not counted by DefectDojo's parser test: one CVE in one package found in four files
    assert len(_parse("one_vuln_many_files.json")) == 4


def test_v1_entries() -> None:
    findings = _parse("many_vulns.json")
    first = findings[0]
    assert first.title == "CVE-2011-3374 apt 1.4.9"
    assert first.category is Category.VULNERABILITY
    assert first.severity is Severity.INFORMATIONAL and first.severity_original == "Negligible"
    assert first.resource.type == "Container" and first.resource.id.startswith("sha256:")
    assert first.remediation is None  # anchore wrote the string "None" for the fix
    # DefectDojo: findings[5].fix_available=True
    sixth = findings[5]
    assert sixth.vulnerabilities[0].fixed_version
    assert sixth.remediation == f"Upgrade {sixth.vulnerabilities[0].package} to " \
        f"{sixth.vulnerabilities[0].fixed_version}."
    unknown = [f for f in findings if f.severity_original == "Unknown"]
    assert unknown and all(f.severity is Severity.INFORMATIONAL for f in unknown)


def test_vendor_scores_and_paths() -> None:
    findings = _parse("many_vulns.json")
    jerseys = [f for f in findings if f.rule_id == "VULNDB-103881"]
    assert len(jerseys) == 3 and len({f.fingerprint() for f in jerseys}) == 3  # three jars
    jersey = jerseys[0]
    assert jersey.vulnerabilities[0].cvss_score == 5.0  # the v2 score; v3 is anchore's -1.0
    assert "myapp.war" in jersey.properties["PackagePath"]
    assert jersey.location_key.startswith("VULNDB-103881|jersey|1.13|/usr/share/myapp")
    many = _parse("one_vuln_many_files.json")
    assert len({f.fingerprint() for f in many}) == 4  # same CVE and package, four paths


def test_security_evaluation_shape() -> None:
    findings = _parse("new_format_issue_11552.json")
    fiftieth = findings[50]
    # DefectDojo: CVE-2023-0466, component openssl-libs-1:1.1.1k-14.el8_6
    assert fiftieth.rule_id == "CVE-2023-0466"
    assert fiftieth.title == "CVE-2023-0466 openssl-libs 1:1.1.1k-14.el8_6"
    assert fiftieth.severity is Severity.LOW and fiftieth.vulnerabilities[0].cvss_score == 5.3
    assert fiftieth.resource.id == "docker.io/myimage:new"
    first = findings[0]
    assert first.vulnerabilities[0].fixed_version == "10.1.34, 11.0.2, 9.0.98"
    asff = to_asff(first, CTX)
    assert asff["Vulnerabilities"][0]["Id"] == "CVE-2024-50379"
    assert asff["Vulnerabilities"][0]["VulnerablePackages"][0]["Name"] == "tomcat-annotations-api"


@pytest.mark.parametrize("word, score, expected", [
    ("Critical", None, Severity.CRITICAL), ("High", None, Severity.HIGH),
    ("Medium", None, Severity.MEDIUM), ("Low", None, Severity.LOW),
    ("Negligible", None, Severity.INFORMATIONAL), ("Unknown", 9.1, Severity.CRITICAL),
    ("Unknown", None, Severity.INFORMATIONAL),
])
def test_severity_mapping(word: str, score, expected: Severity) -> None:
    entry = {"vuln": "CVE-2020-1234", "severity": word, "package_name": "p",
             "package_version": "1", "fix": "None", "url": "https://x",
             "nvd_data": [{"id": "CVE-2020-1234", "cvss_v2": {"base_score": -1.0},
                           "cvss_v3": {"base_score": score if score is not None else -1.0}}]}
    data = json.dumps({"imageDigest": "sha256:1", "vulnerability_type": "all",
                       "vulnerabilities": [entry]}).encode()
    (finding,) = FMT.parse(data, "a.json")
    assert finding.severity is expected


@pytest.mark.parametrize("bad", [
    b"", b"{", b"[1]", b'"x"', b'{"imageDigest": "sha256:1"}', b'{"vulnerabilities": {}}',
    b'{"vulnerabilities": [{"severity": "High"}]}', b'{"vulnerabilities": [3]}',
    b'{"metadata": {}, "securityEvaluation": [{"severity": "High"}]}',
])
def test_malformed_reports_raise_format_error(bad: bytes) -> None:
    with pytest.raises(ReportFormatError) as err:
        FMT.parse(bad, "broken.json")
    assert "broken.json" in str(err.value)


@pytest.mark.parametrize("other", [
    b'{"matches": []}', b'[{"vuln": "CVE-1", "packageName": "x"}]',
    b'{"vulnerabilities": [{"id": "CVE-1"}]}', b'{"vulnerabilities": []}',
])
def test_sniff_leaves_other_json_alone(other: bytes) -> None:
    assert not FMT.sniff(Document(other))
