from __future__ import annotations

import json

import pytest

from secpipe.formats import ReportFormatError, get_format
from secpipe.formats.interface import Document
from secpipe.model import Severity, to_asff
from tests.asserts import CTX, check_fixtures
from tests.conftest import manifest, shared_fixture_dir

FMT = get_format("cyclonedx")

# Where our count differs from DefectDojo's on purpose:
# issue_8022.json and valid-vulnerability-1.4.json each hold one vulnerability whose VEX
# analysis state is `not_affected`: the producer states the component is not affected. That is
# not a problem to fix, and secpipe has no inactive findings, so it yields none. DefectDojo
# reports it: 1 - 1.
DELIBERATE = {"issue_8022.json": 0, "valid-vulnerability-1.4.json": 0}


def _parse(name: str):
    return FMT.parse((shared_fixture_dir("cyclonedx") / name).read_bytes(), name)


def test_shared_fixtures_match_manifest() -> None:
    folder = shared_fixture_dir("cyclonedx")
    expected = manifest("cyclonedx")
    assert len(expected) == 12
    check_fixtures(FMT, folder, expected, deliberate=DELIBERATE)
    assert len(_parse("grype.xml")) == 327  # not used by DefectDojo's tests


def test_vex_not_affected_is_no_finding() -> None:
    doc = json.loads((shared_fixture_dir("cyclonedx") / "valid-vulnerability-1.4.json").read_bytes())
    assert doc["vulnerabilities"][0]["analysis"]["state"] == "not_affected"
    doc["vulnerabilities"][0]["analysis"]["state"] = "exploitable"
    (finding,) = FMT.parse(json.dumps(doc).encode(), "v.json")
    # DefectDojo: 'jackson-databind:2.9.4 | SNYK-JAVA-COMFASTERXMLJACKSONCORE-32111' Critical,
    # cwe 184, 2 vulnerability ids
    assert finding.rule_id == "CVE-2018-7489"
    assert finding.vulnerabilities[0].aliases == ("SNYK-JAVA-COMFASTERXMLJACKSONCORE-32111",)
    assert finding.severity is Severity.CRITICAL and finding.cwe[0] == "CWE-184"
    assert finding.properties["AnalysisState"] == "exploitable"
    for state in ("false_positive", "resolved", "resolved_with_pedigree"):
        doc["vulnerabilities"][0]["analysis"]["state"] = state
        assert FMT.parse(json.dumps(doc).encode(), "v.json") == []


def test_unaffected_versions_are_no_finding() -> None:
    doc = json.loads((shared_fixture_dir("cyclonedx") / "jake2.json").read_bytes())
    doc["vulnerabilities"] = doc["vulnerabilities"][:1]
    doc["vulnerabilities"][0]["affects"][0]["versions"] = [{"version": "2.0", "status": "unaffected"}]
    assert FMT.parse(json.dumps(doc).encode(), "j.json") == []


def test_json_1_4() -> None:
    findings = _parse("jake2.json")
    django = next(f for f in findings if "c7129ff8-08bc-4afe-82ec-7d97b9491741"
                  in f.vulnerabilities[0].aliases)
    # DefectDojo: 'Django:2.0 | c7129ff8-...' High, CVE-2021-33203
    assert django.title == "CVE-2021-33203 django 2.0"
    assert django.severity is Severity.HIGH
    assert django.resource.id == "pkg:pypi/django@2.0"
    vuln = to_asff(django, CTX)["Vulnerabilities"][0]
    assert vuln["Id"] == "CVE-2021-33203" and vuln["Cvss"][0]["BaseScore"] == 7.5


def test_severity_from_cvss_when_unrated() -> None:
    (finding,) = _parse("no-severity.json")
    # DefectDojo: 'None:None | CVE-2021-44228' Critical (from CVSS)
    assert finding.severity is Severity.CRITICAL and finding.rule_id == "CVE-2021-44228"
    assert finding.resource.id == "bom-ref:gerbwetbqt"  # the reference names no component


def test_xml_1_4() -> None:
    findings = _parse("log4j.xml")
    first = findings[0]
    # DefectDojo: 'log4j-core:2.13.2 | CVE-2021-44228' Critical
    assert first.title == "CVE-2021-44228 org.apache.logging.log4j:log4j-core 2.13.2"
    assert first.severity is Severity.CRITICAL
    assert first.vulnerabilities[0].cvss_vector == "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H"
    assert first.properties["AnalysisState"] == "in_triage"
    (multi,) = _parse("multiple_cwes_fabricated.xml")
    assert multi.cwe == ("CWE-79", "CWE-89")


def test_xml_vulnerability_extension() -> None:
    (finding,) = _parse("spec1_lowfirst.xml")
    # the OWASP "Low" rating comes first, the CVSSv3 "Critical" one wins
    assert finding.severity is Severity.CRITICAL and finding.rule_id == "CVE-2018-7489"
    assert finding.vulnerabilities[0].version == "2.9.9"
    findings = _parse("grype_dd_1_14_1.xml")
    # DefectDojo: findings[0] Low, Django 2.2.18; findings[200] libopenjp2-7, CVE-2019-6988
    assert findings[0].severity is Severity.LOW and findings[0].title.endswith("Django 2.2.18")
    assert findings[200].rule_id == "CVE-2019-6988"
    assert findings[200].vulnerabilities[0].package == "libopenjp2-7"
    assert findings[0].resource.type == "Container"
    assert findings[0].resource.id == "defectdojo/defectdojo-django:1.14.1"


def test_sbom_without_vulnerabilities_is_empty() -> None:
    for name in ("cyclonedx_bom.xml", "jake.xml", "retirejs.latest.xml"):
        assert _parse(name) == []
    assert FMT.parse(b'{"bomFormat": "CycloneDX", "specVersion": "1.5", "components": []}',
                     "sbom.json") == []


@pytest.mark.parametrize("bad", [
    b"", b"{", b"[]", b'{"bomFormat": "SPDX"}', b'{"bomFormat": "CycloneDX", "vulnerabilities": {}}',
    b'{"bomFormat": "CycloneDX", "vulnerabilities": [1]}', b"<bom>", b"<sbom/>",
    b'<!DOCTYPE bom [<!ENTITY x SYSTEM "file:///etc/hostname">]>'
    b'<bom xmlns="http://cyclonedx.org/schema/bom/1.4"><components>&x;</components></bom>',
])
def test_malformed_or_hostile_reports_raise_format_error(bad: bytes) -> None:
    with pytest.raises(ReportFormatError) as err:
        FMT.parse(bad, "broken.bom")
    assert "broken.bom" in str(err.value)


def test_sniff_leaves_other_documents_alone() -> None:
    assert not FMT.sniff(Document(b'{"spdxVersion": "SPDX-2.3"}'))
    dc = (shared_fixture_dir("dependency_check") / "single_vuln.xml").read_bytes()
    assert not FMT.sniff(Document(dc))
