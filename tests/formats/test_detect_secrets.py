from __future__ import annotations

import json

import pytest

from secpipe.formats import ReportFormatError, get_format, sniff
from secpipe.model import Category, FingerprintKey, Severity, keyed
from tests.asserts import assert_valid_asff
from tests.conftest import OWN_FIXTURES, manifest, shared_fixture_dir

FMT = get_format("detect-secrets")

# Deliberate differences from MANIFEST.tsv (DefectDojo keeps audited false positives).
DELIBERATE = {
    # 4 entries, one audited `is_secret: false`: a human said it is no secret, so it is skipped.
    "many_findings.json": 3,
}


def test_shared_fixtures_match_manifest() -> None:
    folder = shared_fixture_dir("detect_secrets")
    expected = manifest("detect_secrets")
    assert expected, "MANIFEST.tsv lists no detect_secrets fixture"
    for name, count in expected.items():
        data = (folder / name).read_bytes()
        findings = FMT.parse(data, name)
        if name in DELIBERATE:
            assert count == "4" and len(findings) == DELIBERATE[name], name
        elif count != "unknown":
            assert len(findings) == int(count), name
        assert sniff(data, name).name == "detect-secrets"
        assert_valid_asff(findings)


def test_shared_fixture_fields() -> None:
    data = (shared_fixture_dir("detect_secrets") / "many_findings.json").read_bytes()
    key = FingerprintKey(b"k" * 32)
    with keyed(key):
        findings = FMT.parse(data, "many_findings.json")
    first = findings[0]
    assert (first.rule_id, first.path, first.location.start_line) == ("secret-keyword", "modules_images", 151)
    assert first.category is Category.SECRET and first.severity is Severity.HIGH
    assert first.cwe == ("CWE-798",)
    # the SHA-1 (a dictionary oracle) is re-keyed under the run's key and never kept
    keyed_sha1 = key.rekey("sha1", "bd564db5d5cc358eb0e3523d3e03041739f230d5")
    assert first.secret.sha256 == keyed_sha1
    assert first.properties["hash_algorithm"] == "sha1"
    assert first.location_key == f"secret-sha1:{keyed_sha1}"
    assert "Secret Keyword" in first.title and f"#{keyed_sha1[:8]}" in first.title
    assert "bd564db5" not in repr(findings)
    assert "b732fb611fd46a38e8667f9972e0cde777fbe37f" not in repr(findings)  # the false positive
    # the raw report is scrubbed of every SHA-1 it holds, the false positive's too
    scrubbed = key.scrub_hashes(data)
    assert b"bd564db5d5cc358eb0e3523d3e03041739f230d5" not in scrubbed
    assert b"b732fb611fd46a38e8667f9972e0cde777fbe37f" not in scrubbed
    assert json.loads(scrubbed)["results"]  # still the same JSON
    assert findings[1].properties["audited"] == "true secret"


def test_own_fixture_from_detect_secrets_1_5_0() -> None:
    """`detect-secrets scan` (1.5.0) of a folder with a made-up AWS key pair, a keyword
    password and a made-up OpenSSH private key: 6 entries, one value matched by three plugins."""
    data = (OWN_FIXTURES / "detect-secrets" / "scan.json").read_bytes()
    assert sniff(data, "scan.json").name == "detect-secrets"
    findings = FMT.parse(data, "scan.json")
    assert [(f.path, f.location.start_line, f.rule_id) for f in findings] == [
        ("app/config.py", 1, "aws-access-key"),
        ("app/config.py", 2, "aws-access-key"),  # not base64-high-entropy / secret-keyword
        ("app/config.py", 3, "secret-keyword"),
        ("keys/deploy.pem", 1, "private-key"),
    ]
    merged = findings[1]
    assert merged.properties["occurrences"] == "3"
    assert merged.properties["rules"] == "aws-access-key,base64-high-entropy-string,secret-keyword"
    assert_valid_asff(findings)


def _report(**entry: object) -> bytes:
    base = {"type": "Private Key", "filename": "k.pem", "hashed_secret": "ab" * 20,
            "is_verified": False, "line_number": 7}
    base.update(entry)
    return json.dumps({"version": "1.5.0", "plugins_used": [], "results": {"k.pem": [base]}}).encode()


def test_verified_secrets_are_critical() -> None:
    (plain,) = FMT.parse(_report(), "r.json")
    (live,) = FMT.parse(_report(is_verified=True), "r.json")
    assert plain.severity is Severity.HIGH and live.severity is Severity.CRITICAL
    assert FMT.parse(_report(is_secret=False), "r.json") == []


def test_identity_survives_line_shifts() -> None:
    (a,) = FMT.parse(_report(line_number=7), "a.json")
    (b,) = FMT.parse(_report(line_number=70), "b.json")
    assert a.fingerprint() == b.fingerprint()


def test_empty_results_is_a_clean_report() -> None:
    assert FMT.parse(b'{"version": "1.5.0", "plugins_used": [], "results": {}}', "clean.json") == []


@pytest.mark.parametrize("bad", [
    b"",
    b"{",
    b"[]",
    b'{"version": "1.5.0"}',
    b'{"results": []}',
    b'{"results": {"a": {}}}',
    b'{"results": {"a": [1]}}',
    b'{"results": {"a": [{"type": "X"}]}}',
])
def test_malformed_reports_raise_format_error(bad: bytes) -> None:
    with pytest.raises(ReportFormatError) as err:
        FMT.parse(bad, "broken.json")
    assert "broken.json" in str(err.value)


def test_sniffer_leaves_bandit_alone() -> None:
    from secpipe.formats import Document

    bandit_like = b'{"errors": [], "generated_at": "2024", "metrics": {}, "results": []}'
    assert not FMT.sniff(Document(bandit_like))
