from __future__ import annotations

import json

import pytest

from secpipe.formats import ReportFormatError, get_format, sniff
from secpipe.formats.interface import Document
from secpipe.model import Category, Severity
from secpipe.pipeline.identity import assign_identities
from tests.asserts import assert_valid_asff
from tests.conftest import manifest, shared_fixture_dir

FMT = get_format("sarif")

# Where our count differs from DefectDojo's on purpose.
DELIBERATE = {
    # Its only result carries an accepted suppression (`state: accepted`, the pre-2.1 spelling,
    # and no rejecting status): the author accepted it, so it is not reported. DefectDojo
    # keeps suppressed results as inactive findings.
    "appendix_k.sarif": 0,
}


def _parse(name: str):
    data = (shared_fixture_dir("sarif") / name).read_bytes()
    return FMT.parse(data, name)


def test_shared_fixtures_match_manifest() -> None:
    folder = shared_fixture_dir("sarif")
    expected = manifest("sarif")
    assert len(expected) == 20
    for name, count in expected.items():
        data = (folder / name).read_bytes()
        findings = FMT.parse(data, name)
        if name in DELIBERATE:
            assert len(findings) == DELIBERATE[name], name
        elif count != "unknown":
            assert len(findings) == int(count), name
        assert sniff(data, name).name == "sarif", name
        assert_valid_asff(findings)
        assert all(f.properties["format"] == "sarif" for f in findings)


def test_asserted_details() -> None:
    k2 = _parse("appendix_k2.sarif")[0]
    assert k2.title == 'Variable "count" was used without being initialized.'
    assert k2.location.path == "src/collections/list.cpp" and k2.location.start_line == 15
    k3 = _parse("appendix_k3.sarif")[0]
    assert k3.title == 'The insecure method "Crypto.Sha1.Encrypt" should not be used.'
    assert k3.resource is not None and k3.resource.id == "Example.Worker.DoWork"
    ff = _parse("flawfinder.sarif")
    assert ff[0].tool == "flawfinder" and ff[0].severity is Severity.HIGH
    assert ff[0].location.path == "src/tree/param.cc" and ff[0].location.start_line == 29
    assert ff[0].cwe == ("CWE-327",) and ff[0].rule_id == "FF1048"
    assert ff[0].location_key.startswith("fp:contextHash/v1=")
    cxf = _parse("cxf-3.4.6.sarif")
    assert cxf[0].severity is Severity.LOW and cxf[6].severity is Severity.HIGH
    assert cxf[0].category is Category.VULNERABILITY
    assert cxf[0].vulnerabilities[0].id == "CVE-2008-0732"
    assert cxf[0].vulnerabilities[0].cvss_score == 2.1
    dc = _parse("dependency_check.sarif")
    assert dc[6].severity is Severity.HIGH and dc[6].vulnerabilities[0].id == "CVE-2019-11358"
    bd = _parse("blackduck_nested_fingerprints.sarif")
    assert [bd[0].severity, bd[1].severity, bd[3].severity] == [
        Severity.MEDIUM, Severity.HIGH, Severity.INFORMATIONAL]
    assert bd[0].location_key == "fp:csvRowSha256=" + "a" * 64  # nested {"value": ...}
    nj = _parse("njsscan.sarif")
    assert nj[0].tool == "njsscan" and nj[0].cwe == ("CWE-327",)
    assert nj[0].location.path == "/src/index.js"
    assert nj[1].location.start_line == 235 and "CWE-798" in nj[1].cwe
    taint = _parse("taint-python-report.sarif")
    assert taint[6].severity is Severity.HIGH
    assert taint[0].location.path == "/home/damien/dd/dojo/tools/veracode/parser.py"
    # whole-file hashes change on any edit, so they are left out of the key
    assert "scanFileHash" not in taint[0].location_key
    bash = _parse("bash-report.sarif")
    assert bash[0].location.path == "/home/damien/dd/docker/setEnv.sh"
    assert bash[6].severity is Severity.INFORMATIONAL
    lgtm = _parse("DefectDojo_django-DefectDojo__2020-12-11_13 42 10__export.sarif")
    assert lgtm[0].location_key == "pfp:primaryLocationLineHash=5a98dafd76d3d9c1:1"


def test_message_templates_and_extension_rules() -> None:
    spot = _parse("spotbugs.sarif")
    assert spot[0].title == "Hard coded reference to an absolute pathname in Boot.main(String[])."
    assert spot[0].tool == "spotbugs"


def test_gitleaks_sarif_keeps_no_clear_secret() -> None:
    findings = _parse("gitleaks_7.5.0.sarif")
    assert findings and all(f.category is Category.SECRET for f in findings)
    assert findings[0].title == "AWS Access Key secret detected"
    assert findings[0].severity is Severity.MEDIUM and findings[0].location.start_line == 13
    for f in findings:
        assert f.secret is not None and f.location.snippet is None
        blob = repr(f)
        assert "AKIAIOSFODNN7EXAMPLE" not in blob


def test_one_finding_per_location() -> None:
    findings = _parse("mobsfscan.json")
    assert len(findings) == 18  # 9 results with 18 locations
    # identical log lines in one file share a snippet key; the pipeline's ordinal parts them
    assert len({f.fingerprint() for f in assign_identities(findings)}) == 18


def test_suppressions() -> None:
    findings = _parse("suppression_test.sarif")
    assert findings and all(f.title != "Suppressed" for f in findings)
    doc = {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "T"}}, "results": [
        {"ruleId": "A", "message": {"text": "kept: rejected"},
         "suppressions": [{"kind": "external", "status": "rejected"}]},
        {"ruleId": "A", "message": {"text": "kept: under review"},
         "suppressions": [{"kind": "external", "status": "underReview"}]},
        {"ruleId": "A", "message": {"text": "dropped"},
         "suppressions": [{"kind": "inSource"}, {"kind": "external", "status": "rejected"}]},
        {"ruleId": "A", "message": {"text": "dropped: pass"}, "kind": "pass"},
        {"ruleId": "A", "message": {"text": "kept: review"}, "kind": "review"},
    ]}]}
    findings = FMT.parse(json.dumps(doc).encode(), "s.sarif")
    assert [f.title for f in findings] == ["kept: rejected", "kept: under review", "kept: review"]
    assert findings[2].properties["kind"] == "review"


def _one(result: dict, rules: list | None = None, **run: object) -> object:
    doc = {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "Semgrep OSS",
                                                               "rules": rules or []}},
                                          "results": [result], **run}]}
    (finding,) = FMT.parse(json.dumps(doc).encode(), "one.sarif")
    return finding


@pytest.mark.parametrize(
    "result, rule, expected",
    [
        ({"level": "error"}, {}, Severity.HIGH),
        ({"level": "warning"}, {}, Severity.MEDIUM),
        ({"level": "note"}, {}, Severity.INFORMATIONAL),
        ({"level": "none"}, {}, Severity.INFORMATIONAL),
        ({}, {"defaultConfiguration": {"level": "error"}}, Severity.HIGH),
        ({}, {}, Severity.MEDIUM),  # the spec's default level is warning
        ({"level": "note"}, {"properties": {"security-severity": "9.8"}}, Severity.CRITICAL),
        ({"level": "note"}, {"properties": {"security-severity": "7.0"}}, Severity.HIGH),
        ({"level": "error"}, {"properties": {"security-severity": "4.0"}}, Severity.MEDIUM),
        ({"level": "error", "properties": {"security-severity": "0.5"}}, {}, Severity.LOW),
    ],
)
def test_severity_order(result: dict, rule: dict, expected: Severity) -> None:
    finding = _one({"ruleId": "R1", "message": {"text": "m"}, **result}, [{"id": "R1", **rule}])
    assert finding.severity is expected
    assert finding.tool == "semgrep"


def test_rule_lookup_cwe_and_uri_bases() -> None:
    rules = [{"id": "R0"}, {"id": "R1", "properties": {"tags": ["external/cwe/cwe-079"]},
                            "messageStrings": {"m": {"text": "Bad {0} in {1}"}}}]
    finding = _one(
        {"ruleIndex": 1, "message": {"id": "m", "arguments": ["eval", "f"]},
         "locations": [{"physicalLocation": {
             "artifactLocation": {"uri": "a%20b.py", "uriBaseId": "SRC"},
             "region": {"startLine": 3, "endLine": 4, "snippet": {"text": "eval(x)"}}}}],
         "taxa": [{"id": "89", "toolComponent": {"name": "CWE"}}]},
        rules,
        originalUriBaseIds={"ROOT": {"uri": "file:///work/"}, "SRC": {"uri": "src/", "uriBaseId": "ROOT"}},
    )
    assert finding.rule_id == "R1" and finding.title == "Bad eval in f"
    assert finding.cwe == ("CWE-79", "CWE-89")
    assert finding.location.path == "src/a b.py"  # relative bases resolved, absolute kept aside
    assert finding.properties["uri_base"] == "file:///work/"
    assert (finding.location.start_line, finding.location.end_line) == (3, 4)
    assert finding.location_key.startswith("snippet:")


def test_extension_rule_via_tool_component() -> None:
    doc = {"version": "2.1.0", "runs": [{"tool": {
        "driver": {"name": "CodeQL", "rules": [{"id": "D"}]},
        "extensions": [{"name": "pack", "rules": [{"id": "js/xss", "shortDescription": {"text": "XSS"},
                                                  "properties": {"tags": ["security", "CWE-79"]}}]}]},
        "results": [{"rule": {"index": 0, "toolComponent": {"index": 0}},
                     "message": {"text": "x"},
                     "partialFingerprints": {"primaryLocationLineHash": "abc:1"}}]}]}
    (finding,) = FMT.parse(json.dumps(doc).encode(), "codeql.sarif")
    assert finding.rule_id == "js/xss" and finding.cwe == ("CWE-79",)
    assert finding.tool == "codeql"
    assert finding.location_key == "pfp:primaryLocationLineHash=abc:1"


def test_placeholder_fingerprints_are_ignored() -> None:
    finding = _one({"ruleId": "R", "message": {"text": "m"},
                    "fingerprints": {"matchBasedId/v1": "requires login"}})
    assert finding.location_key is None


@pytest.mark.parametrize("bad", [
    b"", b"{", b"[]", b'{"version": "2.1.0"}', b'{"version": "1.0.0", "runs": []}',
    b'{"version": "2.1.0", "runs": {}}', b'{"version": "2.1.0", "runs": [{"results": []}]}',
    b'{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": [1]}]}',
    b'{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": [{}]}]}',
])
def test_malformed_reports_raise_format_error(bad: bytes) -> None:
    with pytest.raises(ReportFormatError) as err:
        FMT.parse(bad, "broken.sarif")
    assert "broken.sarif" in str(err.value)


def test_sniff_rejects_other_json() -> None:
    assert not FMT.sniff(Document(b'{"results": [], "errors": []}'))
    assert not FMT.sniff(Document(b'[{"runs": []}]'))
