from __future__ import annotations

import json

import pytest

from secpipe.formats import ReportFormatError, get_format, sniff
from secpipe.formats.interface import Document
from secpipe.model import Severity, to_asff
from tests.asserts import CTX, assert_valid_asff, check_fixtures
from tests.conftest import manifest, shared_fixture_dir

FMT = get_format("dependency-check")

# Where our count differs from DefectDojo's on purpose:
# PR6439.xml holds 26 vulnerabilities and 8 suppressedVulnerability entries (matched by the
# user's suppression file, with notes saying why). DefectDojo keeps the suppressed ones as
# inactive findings; secpipe has no inactive findings (a gate would fail on them): 34 - 8.
DELIBERATE = {"PR6439.xml": 26}


def _parse(name: str):
    return FMT.parse((shared_fixture_dir("dependency_check") / name).read_bytes(), name)


def test_shared_fixtures_match_manifest() -> None:
    folder = shared_fixture_dir("dependency_check")
    expected = manifest("dependency_check")
    assert len(expected) == 5
    check_fixtures(FMT, folder, expected, deliberate=DELIBERATE)
    assert len(_parse("dc_empty.xml")) == 0
    assert len(_parse("version-6.5.3_multi_cwe_fabricated.xml")) == 1


def test_suppressed_vulnerabilities_are_not_reported() -> None:
    # DefectDojo's findings[0] is the suppressed CVE-2015-3208 on activemq-broker
    assert not [f for f in _parse("PR6439.xml") if f.rule_id == "CVE-2015-3208"]


def test_single_vuln_old_schema() -> None:
    (finding,) = _parse("single_vuln.xml")
    # DefectDojo: 'org.owasp:library:6.7.8 | CVE-0000-0001' Medium
    assert finding.title == "CVE-0000-0001 org.owasp:library 6.7.8"
    assert finding.severity is Severity.MEDIUM and finding.severity_original == "Moderate"
    assert finding.resource.id == "pkg:maven/org.owasp/library@6.7.8"
    vuln = finding.vulnerabilities[0]
    assert (vuln.cvss_score, vuln.cvss_vector) == (7.5, "AV:N/AC:L/Au:N/C:P/I:P/A:P")
    assert finding.references[0] == "http://localhost/badvulnerability.htm"


def test_current_schema() -> None:
    findings = _parse("PR6439.xml")
    first = findings[0]
    assert first.title == "CVE-2020-15522 org.bouncycastle:bcprov-jdk15on 1.64"
    assert first.vulnerabilities[0].cvss_vector == "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N"
    assert first.remediation == "Upgrade org.bouncycastle:bcprov-jdk15on to 1.66."  # versionEndExcluding
    assert first.cwe == ("CWE-362",)
    assert to_asff(first, CTX)["Vulnerabilities"][0]["Id"] == "CVE-2020-15522"
    (multi,) = _parse("version-6.5.3_multi_cwe_fabricated.xml")
    assert multi.cwe == ("CWE-295", "CWE-297")  # DefectDojo: cwes [295, 297]


JSON_REPORT = {
    "reportSchema": "1.1", "scanInfo": {"engineVersion": "9.0.9", "dataSource": []},
    "projectInfo": {"name": "web", "reportDate": "2024-03-05T10:00:00Z", "credits": {}},
    "dependencies": [
        {"isVirtual": False, "fileName": "log4j-core-2.14.1.jar",
         "filePath": "/build/lib/log4j-core-2.14.1.jar", "sha256": "x",
         "packages": [{"id": "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1",
                       "confidence": "HIGH"}],
         "vulnerabilities": [{
             "source": "NVD", "name": "CVE-2021-44228", "severity": "CRITICAL",
             "cvssv3": {"baseScore": 10.0, "attackVector": "NETWORK", "attackComplexity": "LOW",
                        "privilegesRequired": "NONE", "userInteraction": "NONE",
                        "scope": "CHANGED", "confidentialityImpact": "HIGH",
                        "integrityImpact": "HIGH", "availabilityImpact": "HIGH",
                        "baseSeverity": "CRITICAL", "version": "3.1"},
             "cwes": ["CWE-502", "CWE-400", "CWE-20"], "description": "Log4Shell", "notes": "",
             "references": [{"source": "MISC", "url": "https://logging.apache.org/log4j/2.x/security.html",
                             "name": "x"}],
             "vulnerableSoftware": [{"software": {
                 "id": "cpe:2.3:a:apache:log4j:*:*:*:*:*:*:*:*", "vulnerabilityIdMatched": "true",
                 "versionStartIncluding": "2.13.0", "versionEndExcluding": "2.15.0"}}]}],
         "suppressedVulnerabilities": [{"source": "NVD", "name": "CVE-2021-45046",
                                        "severity": "CRITICAL"}]},
        {"isVirtual": False, "fileName": "clean.jar", "filePath": "/build/lib/clean.jar"},
    ]}


def test_json_report() -> None:
    data = json.dumps(JSON_REPORT).encode()
    assert sniff(data, "dependency-check-report.json").name == "dependency-check"
    (finding,) = FMT.parse(data, "dependency-check-report.json")
    assert finding.title == "CVE-2021-44228 org.apache.logging.log4j:log4j-core 2.14.1"
    assert finding.severity is Severity.CRITICAL
    assert finding.vulnerabilities[0].cvss_vector == "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H"
    assert finding.remediation == "Upgrade org.apache.logging.log4j:log4j-core to 2.15.0."
    assert finding.cwe == ("CWE-502", "CWE-400", "CWE-20")
    assert_valid_asff([finding])


@pytest.mark.parametrize("word, score, expected", [
    ("CRITICAL", 9.8, Severity.CRITICAL), ("HIGH", 7.5, Severity.HIGH),
    ("MEDIUM", 5.0, Severity.MEDIUM), ("Moderate", 5.0, Severity.MEDIUM),
    ("LOW", 2.0, Severity.LOW), ("", 8.1, Severity.HIGH), ("7.2", None, Severity.HIGH),
])
def test_severity_mapping(word: str, score, expected: Severity) -> None:
    report = json.loads(json.dumps(JSON_REPORT))
    vuln = report["dependencies"][0]["vulnerabilities"][0]
    vuln["severity"] = word
    if score is None:
        del vuln["cvssv3"]
    else:
        vuln["cvssv3"] = {"baseScore": score}
    (finding,) = FMT.parse(json.dumps(report).encode(), "dc.json")
    assert finding.severity is expected


@pytest.mark.parametrize("bad", [
    b"", b"{", b"[]", b"{}", b'{"dependencies": {}}', b'{"dependencies": [1]}',
    b"<analysis><dependencies>", b"<other/>",
    b'<?xml version="1.0"?><!DOCTYPE analysis [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    b"<analysis><projectInfo><name>&xxe;</name></projectInfo></analysis>",
    b'<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><analysis>&lol2;</analysis>',
])
def test_malformed_or_hostile_reports_raise_format_error(bad: bytes) -> None:
    with pytest.raises(ReportFormatError) as err:
        FMT.parse(bad, "broken.xml")
    assert "broken.xml" in str(err.value)


def test_dtd_is_refused_before_parsing() -> None:
    data = (b'<?xml version="1.0"?>\n<!DOCTYPE analysis SYSTEM "http://example.invalid/x.dtd">\n'
            b'<analysis xmlns="https://jeremylong.github.io/DependencyCheck/dependency-check.2.5.xsd">'
            b"<dependencies/></analysis>")
    with pytest.raises(ReportFormatError, match="DTD"):
        FMT.parse(data, "dtd.xml")


def test_sniff_leaves_other_xml_alone() -> None:
    cdx = (shared_fixture_dir("cyclonedx") / "log4j.xml").read_bytes()
    assert not FMT.sniff(Document(cdx))
    assert not FMT.sniff(Document(b'{"dependencies": []}'))
