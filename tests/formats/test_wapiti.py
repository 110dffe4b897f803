from __future__ import annotations

import json

import pytest

from secpipe.formats import ReportFormatError, get_format, sniff
from secpipe.model import Category, Severity, to_asff
from tests.asserts import CTX, assert_valid_asff
from tests.conftest import manifest, shared_fixture_dir

FMT = get_format("wapiti")


def test_shared_fixtures_match_manifest() -> None:
    folder = shared_fixture_dir("wapiti")
    expected = manifest("wapiti")
    assert len(expected) == 4
    for name, count in expected.items():
        data = (folder / name).read_bytes()
        findings = FMT.parse(data, name)
        if count != "unknown":
            assert len(findings) == int(count), name
        assert sniff(data, name).name == "wapiti", name
        assert_valid_asff(findings)
        assert len({f.fingerprint() for f in findings}) == len(findings), name


def _parse(name: str):
    return FMT.parse((shared_fixture_dir("wapiti") / name).read_bytes(), name)


def test_xml_fields() -> None:
    (csrf,) = _parse("cwe.xml")
    assert csrf.title == "Cross Site Request Forgery: CSP is not set"
    assert csrf.severity is Severity.LOW and csrf.cwe == ("CWE-352",)
    assert csrf.rule_id == "Cross Site Request Forgery" and csrf.category is Category.CODE
    assert csrf.resource.id == "https://example.org"
    assert to_asff(csrf, CTX)["GeneratorId"] == "wapiti/Cross Site Request Forgery"
    titles = [f.title for f in _parse("example.xml")]
    assert titles[2] == "HTTP Secure Headers: X-XSS-Protection is not set"


def test_repeated_entries_are_one_finding_per_type_and_info() -> None:
    findings = _parse("juicyshop.xml")
    assert [f.title for f in findings] == [
        "Content Security Policy Configuration: CSP is not set",
        "HTTP Secure Headers: X-XSS-Protection is not set",
        "HTTP Secure Headers: Strict-Transport-Security is not set"]
    assert all(f.severity is Severity.LOW for f in findings)
    assert findings[0].properties["occurrences"] == "5"


def test_weak_credentials_never_in_clear() -> None:
    (weak,) = _parse("cwe_multi_cwe_fabricated.xml")
    assert weak.cwe == ("CWE-798", "CWE-521") and weak.secret is not None
    blob = json.dumps(to_asff(weak, CTX)) + repr(weak)
    assert "username=admin&password=admin" not in blob and "password=admin" not in blob


def _report(level: int = 1, **extra) -> dict:
    """A Wapiti 3.2 JSON report as its JSONReportGenerator writes it (hand-made)."""
    entry = {"method": "GET", "path": "/", "info": "X-Frame-Options is not set", "level": level,
             "parameter": "", "referer": "", "module": "http_headers",
             "http_request": "GET / HTTP/1.1\nhost: 127.0.0.1:8000",
             "curl_command": 'curl "http://127.0.0.1:8000/"', "wstg": ["WSTG-CONF-12"]}
    doc = {
        "classifications": {
            "HTTP Secure Headers": {
                "desc": "HTTP security headers tell the browser how to behave.",
                "sol": "Use the recommended hardening of your web server.",
                "ref": {"OWASP: HTTP Security Headers": "https://owasp.org/headers",
                        "CWE-693: Protection Mechanism Failure":
                            "https://cwe.mitre.org/data/definitions/693.html"},
                "wstg": ["WSTG-CONF-12"]},
            "Internal Server Error": {"desc": "The server broke.", "sol": "Fix it.", "ref": {},
                                      "wstg": []},
            "Fingerprint web technology": {"desc": "Technologies.", "sol": "", "ref": {},
                                           "wstg": []},
        },
        "vulnerabilities": {"HTTP Secure Headers": [entry, dict(entry, path="/about")],
                            "SQL Injection": []},
        "anomalies": {"Internal Server Error": [dict(
            entry, info="The server responded with a 500 HTTP error code", level=3,
            path="/search", parameter="q", module="sql")]},
        "additionals": {"Fingerprint web technology": [dict(
            entry, info='{"name": "Flask", "versions": ["3.0.0"], "categories": ["Web frameworks"]}',
            level=0, module="wapp")]},
        "infos": {"version": "Wapiti 3.2.2", "target": "http://127.0.0.1:8000/",
                  "date": "Mon, 01 Jan 2024 00:00:00 +0000", "scope": "folder", "auth": None,
                  "crawled_pages_nbr": 3, "detailed_report_level": 0},
    }
    doc.update(extra)
    return doc


def test_json_report() -> None:
    data = json.dumps(_report()).encode()
    assert sniff(data, "wapiti.json").name == "wapiti"
    headers, error, flask = FMT.parse(data, "wapiti.json")
    assert headers.title == "HTTP Secure Headers: X-Frame-Options is not set"
    assert headers.cwe == ("CWE-693",) and headers.category is Category.MISCONFIGURATION
    assert headers.properties["urls"] == "http://127.0.0.1:8000/ http://127.0.0.1:8000/about"
    assert headers.properties["wstg"] == "WSTG-CONF-12"
    assert headers.remediation == "Use the recommended hardening of your web server."
    assert headers.resource.id == "http://127.0.0.1:8000"
    assert error.severity is Severity.HIGH and error.properties["section"] == "anomalies"
    assert "(parameter q)" in error.description
    assert flask.title == "Fingerprint web technology: Flask 3.0.0"
    assert flask.severity is Severity.INFORMATIONAL
    assert_valid_asff([headers, error, flask])


@pytest.mark.parametrize("level,severity", [
    (0, Severity.INFORMATIONAL), (1, Severity.LOW), (2, Severity.MEDIUM), (3, Severity.HIGH),
    (4, Severity.CRITICAL), ("2", Severity.MEDIUM)])
def test_levels_map_to_severity(level, severity: Severity) -> None:
    doc = _report(level=level, anomalies={}, additionals={})
    findings = FMT.parse(json.dumps(doc).encode(), "w.json")
    assert {f.severity for f in findings} == {severity}


def test_report_without_findings() -> None:
    doc = _report(vulnerabilities={"SQL Injection": []}, anomalies={}, additionals={})
    assert FMT.parse(json.dumps(doc).encode(), "w.json") == []


@pytest.mark.parametrize("bad", [
    b"", b"[]", b'{"infos": {}}', b'{"vulnerabilities": []}',
    b'{"vulnerabilities": {"X": {}}}', b'{"vulnerabilities": {"X": [1]}}',
    b'{"vulnerabilities": {"X": [{"info": "i", "level": 9}]}}',
    b'<report type="security"><vulnerabilityTypeList/></report>', b"<html/>", b"<report",
])
def test_malformed_reports_raise_format_error(bad: bytes) -> None:
    with pytest.raises(ReportFormatError) as err:
        FMT.parse(bad, "broken.json")
    assert "broken.json" in str(err.value)


def test_xml_with_entities_is_refused() -> None:
    xml = (b'<?xml version="1.0"?><!DOCTYPE report [<!ENTITY a "aaaa">]>'
           b'<report type="security"><vulnerabilities/></report>')
    with pytest.raises(ReportFormatError):
        FMT.parse(xml, "evil.xml")


def test_doctype_quoted_in_cdata_is_data() -> None:
    xml = (b'<?xml version="1.0" ?><report type="security"><report_infos>'
           b'<info name="generatorName">wapiti</info><info name="target">http://a/</info>'
           b'</report_infos><vulnerabilities><vulnerability name="Cross Site Scripting">'
           b'<description><![CDATA[XSS]]></description><solution/><references/><entries><entry>'
           b'<method>GET</method><path>/q</path><level>2</level><parameter>q</parameter>'
           b'<info>XSS via q</info><http_request><![CDATA[<!DOCTYPE html><!ENTITY x "y">]]>'
           b'</http_request></entry></entries></vulnerability></vulnerabilities>'
           b'<anomalies/><additionals/></report>')
    (xss,) = FMT.parse(xml, "cdata.xml")
    assert xss.severity is Severity.MEDIUM and xss.properties["urls"] == "http://a/q"
    assert sniff(xml, "cdata.xml").name == "wapiti"
