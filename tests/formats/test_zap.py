from __future__ import annotations

import json

import pytest

from secpipe.formats import ReportFormatError, get_format, sniff
from secpipe.model import Category, Severity, to_asff
from tests.asserts import CTX, assert_valid_asff
from tests.conftest import manifest, shared_fixture_dir

FMT = get_format("zap")

# Where our count differs from DefectDojo's on purpose:
# dvwa_baseline_dojo.xml: ZAP split plugin 10027 (Suspicious Comments) on one site into two
# alerts that differ only in confidence (Medium, Low). Same rule on the same site is one
# identity for secpipe (two findings would share an ASFF Id), so they merge: 19 - 1.
DELIBERATE = {"dvwa_baseline_dojo.xml": 18}


def _parse(name: str, tool: str = "zap"):
    return FMT.parse((shared_fixture_dir(tool) / name).read_bytes(), name)


def test_shared_xml_fixtures_match_manifest() -> None:
    folder = shared_fixture_dir("zap")
    expected = manifest("zap")
    assert len(expected) == 13
    for name, count in expected.items():
        data = (folder / name).read_bytes()
        findings = FMT.parse(data, name)
        if name in DELIBERATE:
            assert len(findings) == DELIBERATE[name], name
        elif count != "unknown":
            assert len(findings) == int(count), name
        assert sniff(data, name).name == "zap", name
        assert_valid_asff(findings)
        assert len({f.fingerprint() for f in findings}) == len(findings), name


def test_shared_json_fixtures() -> None:
    # zap_json rows are 'n/a' in MANIFEST (ZAP's own expected outputs, not DefectDojo's): each
    # holds one alert 'XSS' with two instances.
    folder = shared_fixture_dir("zap_json")
    assert set(manifest("zap_json")) == {p.name for p in folder.iterdir()}
    for path in folder.iterdir():
        findings = FMT.parse(path.read_bytes(), path.name)
        assert len(findings) == 1, path.name
        (xss,) = findings
        assert xss.rule_id == "1" and xss.title == "XSS" and xss.severity is Severity.HIGH
        assert xss.cwe == ("CWE-123",) and xss.confidence == 60
        assert xss.description.startswith("XSS Description")  # HTML stripped
        assert "Instances (2)" in xss.description
        assert xss.remediation == "Test Solution"
        assert xss.resource.id == "http://example.com" and xss.resource.type == "Other"
        assert xss.properties["instances"] == "2"
        assert "request-header" not in repr(xss) and "user-agent" not in xss.description
        assert sniff(path.read_bytes(), path.name).name == "zap"
        assert_valid_asff(findings)


def test_unknown_rows_parse() -> None:
    counts = {name: len(_parse(name)) for name in (
        "0_zap_sample_without_zap3.xml", "dvwa_baseline_dojo_fabricated_internal_duplicates.xml",
        "dvwa_baseline_dojo_fabricated_internal_duplicates_subset.xml",
        "dvwa_baseline_dojo_subset.xml", "zap-results-second-scan.xml")}
    # The fabricated internal duplicates are exact copies of alerts: merged into one each.
    assert counts == {"0_zap_sample_without_zap3.xml": 3,
                      "dvwa_baseline_dojo_fabricated_internal_duplicates.xml": 10,
                      "dvwa_baseline_dojo_fabricated_internal_duplicates_subset.xml": 5,
                      "dvwa_baseline_dojo_subset.xml": 10, "zap-results-second-scan.xml": 18}


def test_dvwa_alert_fields() -> None:
    findings = _parse("dvwa_baseline_dojo.xml")
    first = findings[0]
    assert (first.rule_id, first.title) == ("10020", "X-Frame-Options Header Not Set")
    assert first.severity is Severity.MEDIUM and first.severity_original == "Medium"
    assert first.properties["instances"] == "11" and first.resource.id == "http://172.17.0.2"
    assert first.location_key == "10020@http://172.17.0.2"
    assert first.cwe == ("CWE-16",) and first.category is Category.MISCONFIGURATION
    assert first.remediation_url == "https://developer.mozilla.org/en-US/docs/Web/HTTP/Headers/X-Frame-Options"
    assert findings[-1].title == "Private IP Disclosure" and findings[-1].severity is Severity.LOW
    comments = [f for f in findings if f.rule_id == "10027"]
    assert len(comments) == 1 and comments[0].properties["instances"] == "3"
    assert comments[0].confidence == 60  # the higher of Medium and Low
    asff = to_asff(first, CTX)
    assert asff["GeneratorId"] == "zap/10020" and asff["Confidence"] == 60


def test_glued_reference_urls_are_split() -> None:
    csp = next(f for f in _parse("0_zap_sample.xml") if f.rule_id == "10055")
    assert csp.references[:2] == ("http://www.w3.org/TR/CSP2/", "http://www.w3.org/TR/CSP/")


def _report(**alert_overrides) -> bytes:
    alert = {"pluginid": "10020", "alertRef": "10020-1", "alert": "Missing Anti-clickjacking Header",
             "name": "Missing Anti-clickjacking Header", "riskcode": "2", "confidence": "2",
             "riskdesc": "Medium (Medium)", "desc": "<p>No X-Frame-Options.</p>",
             "instances": [{"uri": "http://127.0.0.1:8080/", "method": "GET",
                            "param": "x-frame-options", "attack": "", "evidence": "",
                            "otherinfo": ""}],
             "count": "1", "solution": "<p>Set it.</p>", "otherinfo": "",
             "reference": "<p>https://example.org/xfo</p>", "cweid": "1021", "wascid": "15",
             "sourceid": "3"}
    alert.update(alert_overrides)
    return json.dumps({"@programName": "ZAP", "@version": "2.16.1", "@generated": "now",
                       "site": [{"@name": "http://127.0.0.1:8080", "@host": "127.0.0.1",
                                 "@port": "8080", "@ssl": "false", "alerts": [alert]}]}).encode()


@pytest.mark.parametrize("riskcode,severity", [
    ("0", Severity.INFORMATIONAL), ("1", Severity.LOW), ("2", Severity.MEDIUM),
    ("3", Severity.HIGH)])
def test_riskcode_maps_to_severity(riskcode: str, severity: Severity) -> None:
    (finding,) = FMT.parse(_report(riskcode=riskcode), "r.json")
    assert finding.severity is severity


@pytest.mark.parametrize("confidence,expected", [("0", 0), ("1", 30), ("2", 60), ("3", 90),
                                                 ("4", 100), ("", None)])
def test_confidence_scale(confidence: str, expected: int | None) -> None:
    (finding,) = FMT.parse(_report(confidence=confidence), "r.json")
    assert finding.confidence == expected


def test_sub_alerts_of_one_plugin_stay_apart() -> None:
    doc = json.loads(_report())
    other = dict(doc["site"][0]["alerts"][0], alertRef="10020-2",
                 alert="Multiple X-Frame-Options Header Entries")
    doc["site"][0]["alerts"].append(other)
    findings = FMT.parse(json.dumps(doc).encode(), "r.json")
    # a loopback target's port is left out of the identity (it changes every local deploy)
    assert [f.location_key for f in findings] == [
        "10020-1@http://127.0.0.1", "10020-2@http://127.0.0.1"]
    assert {f.rule_id for f in findings} == {"10020"}


def test_sensitive_evidence_is_masked() -> None:
    token = "eyJhbGciOiJIUzI1NiJ9.c2Vzc2lvbi10b2tlbi12YWx1ZQ"
    inst = {"uri": "http://127.0.0.1:8080/login", "method": "POST", "param": "session",
            "evidence": token, "otherinfo": f"token={token}"}
    for plugin in ("10112", "10020"):
        (finding,) = FMT.parse(_report(pluginid=plugin, alertRef=plugin, instances=[inst],
                                       otherinfo=f"<p>{token}</p>"), "r.json")
        blob = json.dumps(to_asff(finding, CTX)) + repr(finding)
        assert token not in blob, plugin


def test_old_single_site_object_and_bare_alert_uri() -> None:
    doc = {"@version": "2.7.0", "@generated": "then", "site": {
        "@name": "https://example.org", "@host": "example.org", "@port": "443", "@ssl": "true",
        "alerts": [{"pluginid": "10016", "alert": "Web Browser XSS Protection Not Enabled",
                    "riskcode": "1", "confidence": "2", "uri": "https://example.org/",
                    "param": "X-XSS-Protection", "cweid": "933"}]}}
    (finding,) = FMT.parse(json.dumps(doc).encode(), "old.json")
    assert finding.properties["urls"] == "https://example.org/"
    assert finding.location_key == "10016|Web Browser XSS Protection Not Enabled@https://example.org"
    assert sniff(json.dumps(doc).encode(), "old.json").name == "zap"


def test_empty_report_has_no_findings() -> None:
    assert FMT.parse(b'{"@version": "2.16.1", "site": []}', "empty.json") == []


@pytest.mark.parametrize("xml", [
    b'<?xml version="1.0"?><!DOCTYPE OWASPZAPReport [<!ENTITY x "boom">]>'
    b'<OWASPZAPReport version="2.9.0"><site name="http://a"><alerts/></site></OWASPZAPReport>',
    b'<?xml version="1.0"?><!DOCTYPE OWASPZAPReport SYSTEM "http://127.0.0.1:9/zap.dtd">'
    b'<OWASPZAPReport version="2.9.0"><site name="http://a"><alerts/></site></OWASPZAPReport>',
])
def test_xml_with_a_dtd_is_refused(xml: bytes) -> None:
    with pytest.raises(ReportFormatError) as err:
        FMT.parse(xml, "evil.xml")
    message = str(err.value)
    assert "evil.xml" in message and ("DTD" in message or "DOCTYPE" in message)


@pytest.mark.parametrize("bad", [
    b"", b"{", b"[]", b'{"site": 3}', b'{"site": [1]}', b'{"site": [{"@name": "x", "alerts": [1]}]}',
    b'{"site": [{"@name": "http://a", "alerts": [{"alert": "no plugin id", "riskcode": "1"}]}]}',
    b'{"site": [{"@name": "http://a", "alerts": [{"pluginid": "1", "alert": "x", "riskcode": "9"}]}]}',
    b"<OWASPZAPReport><site", b"<report/>",
])
def test_malformed_reports_raise_format_error(bad: bytes) -> None:
    with pytest.raises(ReportFormatError) as err:
        FMT.parse(bad, "broken.json")
    assert "broken.json" in str(err.value)


def test_level_annotation_and_remote_sites_keep_their_port() -> None:
    doc = json.loads(_report())
    doc["site"][0]["@name"] = "https://shop.example.com:8443"
    doc["site"][0]["alerts"][0]["secpipe-level"] = "FAIL"
    (finding,) = FMT.parse(json.dumps(doc).encode(), "r.json")[:1]
    assert finding.properties["level"] == "FAIL"
    assert finding.location_key.endswith("@https://shop.example.com:8443")
