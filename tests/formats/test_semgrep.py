from __future__ import annotations

import json

import pytest

from secpipe.formats import ReportFormatError, get_format, sniff
from secpipe.formats.interface import Document
from secpipe.model import Category, Severity
from tests.asserts import assert_valid_asff
from tests.conftest import manifest, shared_fixture_dir

FMT = get_format("semgrep")


def _parse(name: str):
    return FMT.parse((shared_fixture_dir("semgrep") / name).read_bytes(), name)


def test_shared_fixtures_match_manifest() -> None:
    folder = shared_fixture_dir("semgrep")
    expected = manifest("semgrep")
    assert expected, "MANIFEST.tsv lists no semgrep fixture"
    for name, count in expected.items():
        data = (folder / name).read_bytes()
        findings = FMT.parse(data, name)
        if count != "unknown":
            # repeated_findings.json holds the same result twice; we merge exact repeats as
            # DefectDojo does, so its 1 is our count too.
            assert len(findings) == int(count), name
        assert sniff(data, name).name == "semgrep", name
        assert_valid_asff(findings)


def test_asserted_details() -> None:
    (one,) = _parse("one_finding.json")
    assert one.severity is Severity.MEDIUM and one.cwe == ("CWE-696",)
    assert one.rule_id == "java.lang.security.audit.cbc-padding-oracle.cbc-padding-oracle"
    assert one.location.path.endswith("BenchmarkTest02194.java") and one.location.start_line == 64
    (cwe,) = _parse("cwe_list.json")
    assert cwe.severity is Severity.LOW and cwe.cwe == ("CWE-352",)
    assert cwe.location.path == "index.js" and cwe.location.start_line == 12
    assert cwe.location_key == "semgrep:143cb0c62f3740d62180cbde3ffa976e"
    many = _parse("many_findings.json")
    assert many[0].severity is Severity.MEDIUM and many[0].cwe == ("CWE-696",)
    assert many[2].severity is Severity.LOW and many[2].location.path.endswith("BenchmarkTest01150.java")
    vulns = _parse("many_vulns.json")
    assert vulns[0].severity is Severity.HIGH and vulns[0].location.start_line == 186
    assert vulns[0].rule_id == "python.lang.correctness.tempfile.flush.tempfile-without-flush"
    (rep,) = _parse("repeated_findings.json")
    assert rep.properties["occurrences"] == "2" and rep.location.start_line == 66


def test_logged_out_placeholders_are_not_evidence() -> None:
    first, second = _parse("fingerprint_test.json")
    assert first.location.path == "sample/brute.py" and first.location.start_line == 31
    assert second.location.path == "sample/function.go" and second.location.start_line == 37
    for f in (first, second):
        assert f.location.snippet is None and f.location_key is None


def test_fingerprint_survives_line_shift() -> None:
    a = _parse("semgrep_version_1_30_0_line_26.json")
    b = _parse("semgrep_version_1_30_0_line_27.json")
    assert len(a) == len(b)
    assert [f.fingerprint() for f in a] == [f.fingerprint() for f in b]
    old = _parse("close_old_findings_report_line31.json")[0]
    moved = _parse("close_old_findings_report_second_run_line24.json")[0]
    other = _parse("close_old_findings_report_third_run_different_unique_id.json")[0]
    assert old.location.start_line != moved.location.start_line
    assert old.fingerprint() == moved.fingerprint() != other.fingerprint()


def _report(*results: dict) -> bytes:
    return json.dumps({"results": list(results), "errors": [], "version": "1.50.0"}).encode()


def _result(severity: str = "WARNING", **extra: object) -> dict:
    return {"check_id": "r.x", "path": "./a.py", "start": {"line": 2, "col": 1},
            "end": {"line": 3, "col": 2},
            "extra": {"message": "Bad thing. More text.", "severity": severity,
                      "lines": "x = 1", "metadata": {}, **extra}}


@pytest.mark.parametrize("word, expected", [
    ("ERROR", Severity.HIGH), ("WARNING", Severity.MEDIUM), ("INFO", Severity.LOW),
    ("CRITICAL", Severity.CRITICAL), ("HIGH", Severity.HIGH), ("LOW", Severity.LOW),
    ("INVENTORY", Severity.INFORMATIONAL),
])
def test_severity_mapping(word: str, expected: Severity) -> None:
    (finding,) = FMT.parse(_report(_result(word)), "s.json")
    assert finding.severity is expected and finding.severity_original == word
    assert finding.title == "Bad thing." and finding.location.path == "a.py"


def test_ignored_results_are_skipped() -> None:
    assert FMT.parse(_report(_result(is_ignored=True)), "s.json") == []


def test_hardcoded_secret_is_never_in_clear() -> None:
    clear = 'AWS_KEY = "AKIAQWERTYUIOPASDFGH"'
    result = _result("ERROR", lines=clear, fix="x",
                     metadata={"cwe": ["CWE-798: Use of Hard-coded Credentials"]})
    (finding,) = FMT.parse(_report(result), "s.json")
    assert finding.category is Category.SECRET and finding.secret is not None
    assert "AKIAQWERTYUIOPASDFGH" not in repr(finding)
    assert finding.location.snippet is None


@pytest.mark.parametrize("bad", [
    b"", b"{", b"[]", b'{"errors": []}', b'{"results": {}}', b'{"results": [1]}',
    b'{"results": [{"path": "a"}]}',
    b'{"results": [{"check_id": "x", "path": "a", "extra": []}]}',
    b'{"results": [{"check_id": "x", "path": "a", "start": 3}]}',
])
def test_malformed_reports_raise_format_error(bad: bytes) -> None:
    with pytest.raises(ReportFormatError) as err:
        FMT.parse(bad, "broken.json")
    assert "broken.json" in str(err.value)


def test_sniff_is_specific() -> None:
    assert FMT.sniff(Document(b'{"results": [], "errors": [], "paths": {"scanned": []}}'))
    assert not FMT.sniff(Document(b'{"results": [], "errors": [], "metrics": {}, "generated_at": "x"}'))
    assert not FMT.sniff(Document(b'{"results": [], "errors": []}'))
    assert FMT.parse(b'{"results": [], "errors": []}', "empty.json") == []


def _sca(rule: str, cves: list[str], package: str, version: str, safe: str, *, repo: str = "acme/web",
         path: str = "requirements.txt", line: str = "12", status: str = "NEW",
         severity: str = "HIGH") -> dict:
    """One entry of Semgrep Supply Chain's `{"vulns": [...]}` export, in the shape the Semgrep
    AppSec Platform writes (the keys DefectDojo's semgrep parser reads, and the rest)."""
    return {
        "title": f"Vulnerability in {package}",
        "advisory": {"ruleId": rule, "title": f"Vulnerability in {package}",
                     "description": f"{package} before {safe} is vulnerable.",
                     "ecosystem": "pypi", "severity": severity,
                     "references": {"cveIds": cves, "cweIds": ["CWE-617: Reachable Assertion"],
                                    "owaspIds": [], "urls": ["https://osv.dev/x"]},
                     "reachability": "MANUAL_REVIEW_REACHABLE",
                     "vulnerableDependencies": [{"name": package,
                                                 "versionSpecifier": f"< {safe}"}],
                     "safeDependencies": [{"name": package, "versionSpecifier": safe}]},
        "exposureType": "REACHABLE", "repositoryId": "136260", "repositoryName": repo,
        "matchedDependency": {"name": package, "versionSpecifier": version},
        "dependencyFileLocation": {"path": path, "startLine": line, "url": "https://x",
                                   "startCol": "0", "endLine": "0", "endCol": "0"},
        "triage": {"status": status, "dismissReason": "UNKNOWN_REASON", "issueUrl": "",
                   "prUrl": ""},
        "closestSafeDependency": {"name": package, "versionSpecifier": safe},
        "transitivity": "DIRECT", "usages": [], "packageManager": "pip",
    }


def test_supply_chain_export_is_read() -> None:
    report = {"vulns": [
        _sca("ssc-8220", ["CVE-2023-1428"], "grpcio", "1.47.0", "1.53.0"),
        _sca("ssc-8220", ["CVE-2023-1428"], "grpcio", "1.47.0", "1.53.0", repo="acme/api"),
        _sca("ssc-8220", ["CVE-2023-1428"], "grpcio", "1.47.0", "1.53.0"),  # exact repeat
        _sca("ssc-0001", [], "flask", "0.12", "0.12.3", severity="MEDIUM"),
        _sca("ssc-0002", ["CVE-2018-18074"], "requests", "2.19.0", "2.20.0", status="FIXED"),
    ]}
    data = json.dumps(report).encode()
    assert sniff(data, "sca.json").name == "semgrep"
    findings = FMT.parse(data, "sca.json")
    assert len(findings) == 3
    grpc = findings[0]
    (vuln,) = grpc.vulnerabilities
    assert (vuln.id, vuln.package, vuln.version, vuln.fixed_version) == (
        "CVE-2023-1428", "grpcio", "1.47.0", "1.53.0")
    assert "ssc-8220" in vuln.aliases
    assert grpc.severity is Severity.HIGH and grpc.category is Category.VULNERABILITY
    assert grpc.location.path == "requirements.txt" and grpc.location.start_line == 12
    assert grpc.cwe == ("CWE-617",)
    assert grpc.remediation == "Upgrade grpcio to 1.53.0."
    assert grpc.properties["Reachability"] == "REACHABLE"
    assert findings[1].properties["Repository"] == "acme/api"
    assert findings[0].identity_key() != findings[1].identity_key()
    flask = findings[2]
    assert flask.vulnerabilities[0].id == "ssc-0001" and flask.severity is Severity.MEDIUM
    assert_valid_asff(findings)


def test_supply_chain_export_empty_and_broken() -> None:
    assert FMT.parse(b'{"vulns": []}', "sca.json") == []
    with pytest.raises(ReportFormatError, match="vulns\\[0\\]"):
        FMT.parse(b'{"vulns": [{"title": "x"}]}', "sca.json")
    with pytest.raises(ReportFormatError, match="sca.json"):
        FMT.parse(b'{"vulns": {}}', "sca.json")
