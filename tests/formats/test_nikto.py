from __future__ import annotations

import json

import pytest

from secpipe.formats import ReportFormatError, get_format, sniff
from secpipe.model import Severity, to_asff
from tests.asserts import CTX, assert_valid_asff
from tests.conftest import manifest, shared_fixture_dir

FMT = get_format("nikto")


def _parse(name: str):
    return FMT.parse((shared_fixture_dir("nikto") / name).read_bytes(), name)


def test_shared_fixtures_match_manifest() -> None:
    folder = shared_fixture_dir("nikto")
    expected = manifest("nikto")
    assert len(expected) == 6
    for name, count in expected.items():
        data = (folder / name).read_bytes()
        findings = FMT.parse(data, name)
        if count != "unknown":
            assert len(findings) == int(count), name
        assert sniff(data, name).name == "nikto", name
        assert_valid_asff(findings)
        assert len({f.fingerprint() for f in findings}) == len(findings), name


def test_xml_fields() -> None:
    tomcat = next(f for f in _parse("nikto-output.xml") if f.rule_id == "500008")
    assert tomcat.title == "favicon.ico file identifies this server as: Apache Tomcat"
    assert tomcat.severity is Severity.MEDIUM and tomcat.properties["osvdb"] == "39272"
    assert tomcat.resource.id == "http://localhost:8070"
    first = _parse("tdh.xml")[0]
    assert first.title == "Uncommon header 'x-cache' found, with contents: HIT"
    assert first.severity is Severity.INFORMATIONAL and first.rule_id == "999100"
    assert first.resource.id == "https://www.tdh.com:443"
    assert first.properties["ip"] == "64.220.43.153"
    assert to_asff(first, CTX)["GeneratorId"] == "nikto/999100"


def test_several_hosts_in_one_xml() -> None:
    sites = {f.resource.id for f in _parse("nikto-report-many-vuln.xml")}
    assert sites == {"https://192.168.0.24:443", "https://192.168.0.20:443",
                     "https://192.168.0.65:443", "https://192.168.0.49:443"}


def test_json_list_of_hosts() -> None:
    findings = _parse("issue_9274.json")
    assert {f.resource.id for f in findings} == {"example.com:443"}
    assert all(f.severity is Severity.INFORMATIONAL for f in findings)
    xfo = next(f for f in findings if f.rule_id == "999978")
    assert xfo.references == ("https://developer.mozilla.org/en-US/docs/Web/HTTP/Headers/X-Frame-Options",)


def test_identity_ignores_live_numbers_in_messages() -> None:
    def report(value: str) -> bytes:
        return json.dumps({"host": "h", "ip": "10.0.0.1", "port": "80", "banner": "", "vulnerabilities": [
            {"id": "999100", "OSVDB": "0", "method": "GET", "url": "/",
             "msg": f"Uncommon header 'x-load' found, with contents: {value}"}]}).encode()
    (a,), (b,) = FMT.parse(report("51.17"), "a.json"), FMT.parse(report("48.90"), "b.json")
    assert a.fingerprint() == b.fingerprint()


def test_single_host_object_with_osvdb_and_repeats() -> None:
    vuln = {"id": "001885", "OSVDB": "3092", "method": "GET", "url": "/system/",
            "msg": "/system/: This might be interesting."}
    doc = {"hostname": "10.0.0.5", "ip": "10.0.0.5", "port": "8080", "banner": "Apache",
           "vulnerabilities": [vuln, vuln]}
    data = json.dumps(doc).encode()
    (finding,) = FMT.parse(data, "one.json")
    assert finding.severity is Severity.MEDIUM and finding.severity_original == "OSVDB-3092"
    assert finding.properties["occurrences"] == "2" and finding.resource.id == "10.0.0.5:8080"
    assert sniff(data, "one.json").name == "nikto"
    empty = dict(doc, vulnerabilities=[])
    assert FMT.parse(json.dumps(empty).encode(), "none.json") == []


def test_xml_with_internal_dtd_is_refused() -> None:
    xml = (b'<?xml version="1.0" ?><!DOCTYPE niktoscan [<!ENTITY a "aaaaaaaa">]>'
           b'<niktoscan><scandetails sitename="http://a/"><item id="1" method="GET">'
           b'<description>&a;</description></item></scandetails></niktoscan>')
    with pytest.raises(ReportFormatError) as err:
        FMT.parse(xml, "evil.xml")
    assert "evil.xml" in str(err.value) and "DTD" in str(err.value)


@pytest.mark.parametrize("bad", [
    b"", b"{", b"3", b'{"a": 1}', b"[1]", b'{"host": "h", "vulnerabilities": {}}',
    b'{"host": "h", "port": "80", "vulnerabilities": [{"msg": "no id"}]}',
    b"<niktoscan><scandetails><item/></scandetails></niktoscan>", b"<other/>", b"<niktoscan>",
])
def test_malformed_reports_raise_format_error(bad: bytes) -> None:
    with pytest.raises(ReportFormatError) as err:
        FMT.parse(bad, "broken.json")
    assert "broken.json" in str(err.value)
