from __future__ import annotations

import json

import pytest

from secpipe.formats import ReportFormatError, get_format, sniff
from secpipe.model import Category, Severity, to_asff
from tests.asserts import CTX, assert_valid_asff
from tests.conftest import manifest, shared_fixture_dir

FMT = get_format("nuclei")
# A 0-byte file is nuclei's "no match" output; there is nothing in it for a sniffer to claim.
NOT_SNIFFED = {"empty.jsonl"}


def _parse(name: str):
    return FMT.parse((shared_fixture_dir("nuclei") / name).read_bytes(), name)


def test_shared_fixtures_match_manifest() -> None:
    folder = shared_fixture_dir("nuclei")
    expected = manifest("nuclei")
    assert len(expected) == 7
    for name, count in expected.items():
        data = (folder / name).read_bytes()
        findings = FMT.parse(data, name)
        if count != "unknown":
            assert len(findings) == int(count), name
        if name not in NOT_SNIFFED:
            assert sniff(data, name).name == "nuclei", name
        assert_valid_asff(findings)
        assert len({f.fingerprint() for f in findings}) == len(findings), name


def test_cve_template_becomes_a_vulnerability() -> None:
    ssh, _ = _parse("many_findings_new.json")
    assert ssh.title == "OpenSSH Username Enumeration v7.7" and ssh.severity is Severity.MEDIUM
    assert ssh.rule_id == "CVE-2018-15473" and ssh.category is Category.VULNERABILITY
    (vuln,) = ssh.vulnerabilities
    assert vuln.id == "CVE-2018-15473" and vuln.cvss_score == 5.3
    assert vuln.cvss_vector == "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N"
    assert ssh.cwe == ("CWE-362",) and ssh.resource.id == "nuclei-example.com:22"
    asff = to_asff(ssh, CTX)
    assert asff["GeneratorId"] == "nuclei/CVE-2018-15473"
    assert asff["Vulnerabilities"][0]["Cvss"][0]["BaseScore"] == 5.3


def test_fields_and_hosts() -> None:
    (favicon,) = _parse("issue_9201.json")
    assert favicon.resource.id == "https://example.com"
    headers = _parse("many_findings_third.json")[0]
    assert headers.title == "HTTP Missing Security Headers (x-content-type-options)"
    assert headers.severity is Severity.INFORMATIONAL and headers.properties["matcher"] == "x-content-type-options"
    first, second = _parse("multiple_matches.json")
    assert first.resource.id == second.resource.id == "https://turquoise-estrellita-69.tiiny.site"
    assert first.fingerprint() != second.fingerprint()


def test_rows_of_one_template_match_on_one_site_merge() -> None:
    findings = _parse("multiple_v3.json")  # 6 rows: tls-version once per TLS version
    assert findings[0].severity is Severity.INFORMATIONAL
    (tls,) = [f for f in findings if f.rule_id == "tls-version"]
    assert tls.properties["extracted"] == "tls12, tls13" and tls.properties["occurrences"] == "2"


def test_request_response_and_meta_are_not_copied() -> None:
    for finding in _parse("issue_14071.json"):
        blob = json.dumps(to_asff(finding, CTX)) + repr(finding)
        assert "user_token" not in blob and "Cookie:" not in blob, finding.rule_id
        assert "90af3b3f9792ec373da1611de12e09a8" not in blob, finding.rule_id  # PHPSESSID
    login = next(f for f in _parse("issue_14071.json") if f.rule_id == "dvwa-default-login")
    assert login.severity is Severity.CRITICAL and login.resource.id == "http://dvwa_dvwa_1"


def _row(**extra) -> dict:
    row = {"template-id": "aws-access-key-value", "template-path": "http/exposures/tokens/aws/aws-access-key-value.yaml",
           "info": {"name": "AWS Access Key ID - Value", "severity": "info",
                    "tags": ["file", "keys", "token", "aws"]},
           "type": "http", "host": "127.0.0.1:8080", "matched-at": "http://127.0.0.1:8080/app.js",
           "extracted-results": ["AKIAFAKEKEYFORTESTS2"], "matcher-status": True}
    row.update(extra)
    return row


def test_token_exposures_are_masked_secrets() -> None:
    (finding,) = FMT.parse(json.dumps(_row()).encode(), "tokens.jsonl")
    assert finding.category is Category.SECRET and finding.secret is not None
    blob = json.dumps(to_asff(finding, CTX)) + repr(finding)
    assert "AKIAFAKEKEYFORTESTS2" not in blob
    assert finding.secret.masked == "AKIA…STS2" and finding.secret.masked in finding.description


def test_failed_matches_are_not_findings() -> None:
    lines = [json.dumps(_row(**{"matcher-status": False})), json.dumps(_row(**{
        "template-id": "tech-detect", "template-path": "http/technologies/tech-detect.yaml",
        "info": {"name": "Tech", "severity": "info"}, "extracted-results": None}))]
    (finding,) = FMT.parse("\n".join(lines).encode(), "ms.jsonl")
    assert finding.rule_id == "tech-detect"


def test_old_key_spellings() -> None:
    row = {"templateID": "git-config", "info": {"name": "Git Config", "severity": "medium",
                                                "reference": "https://example.org/a, https://example.org/b"},
           "type": "http", "matched": "https://example.org/.git/config", "matcher_name": "cfg"}
    data = json.dumps(row).encode()
    (finding,) = FMT.parse(data, "old.json")
    assert finding.rule_id == "git-config" and finding.severity is Severity.MEDIUM
    assert finding.resource.id == "https://example.org" and finding.title == "Git Config (cfg)"
    assert finding.references == ("https://example.org/a", "https://example.org/b")
    assert sniff(data, "old.json").name == "nuclei"


@pytest.mark.parametrize("word,severity", [
    ("info", Severity.INFORMATIONAL), ("low", Severity.LOW), ("medium", Severity.MEDIUM),
    ("high", Severity.HIGH), ("critical", Severity.CRITICAL), ("unknown", Severity.INFORMATIONAL),
    ("", Severity.INFORMATIONAL)])
def test_severity_mapping(word: str, severity: Severity) -> None:
    row = _row(info={"name": "X", "severity": word}, **{"template-path": "x.yaml"})
    (finding,) = FMT.parse(json.dumps(row).encode(), "s.jsonl")
    assert finding.severity is severity


def test_json_export_array_and_empty() -> None:
    assert len(FMT.parse(json.dumps([_row(), _row(host="other")]).encode(), "a.json")) == 1
    assert FMT.parse(b"", "empty.jsonl") == [] and FMT.parse(b"\n\n", "blank.jsonl") == []
    assert FMT.parse(b"[]", "none.json") == []


@pytest.mark.parametrize("bad", [
    b"{", b'{"a": 1}', b"[1]", b'[{"template-id": "x"}]', b'{"template-id": "x", "info": 3}',
    b'{"template-id": "x", "info": {}}\nnot json', b'"text"',
])
def test_malformed_reports_raise_format_error(bad: bytes) -> None:
    with pytest.raises(ReportFormatError) as err:
        FMT.parse(bad, "broken.jsonl")
    assert "broken.jsonl" in str(err.value)
