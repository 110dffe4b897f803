from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from secpipe.formats import ReportFormatError, get_format, sniff
from secpipe.model import Category, FingerprintKey, Severity, keyed
from tests.asserts import assert_valid_asff
from tests.conftest import manifest, shared_fixture_dir

FMT = get_format("trufflehog")

# Deliberate differences from MANIFEST.tsv. DefectDojo merges a trufflehog v2 report per
# (file, reason); secpipe keeps one finding per distinct leaked value per file, since each
# value is a separate credential to rotate.
DELIBERATE = {
    # 64 records; 18 (file, reason) pairs, but test_all.py's "Generic Secret" holds two
    # different values (secret = 'd156…' and secret = '9ed5…'): 19 distinct values.
    "v2_many_vulns.json": ("18", 19),
}


def test_shared_fixtures_match_manifest() -> None:
    folder = shared_fixture_dir("trufflehog")
    expected = manifest("trufflehog")
    assert expected, "MANIFEST.tsv lists no trufflehog fixture"
    for name, count in expected.items():
        data = (folder / name).read_bytes()
        findings = FMT.parse(data, name)
        if name in DELIBERATE:
            theirs, ours = DELIBERATE[name]
            assert count == theirs and len(findings) == ours, name
        elif count != "unknown":
            assert len(findings) == int(count), name
        assert sniff(data, name).name == "trufflehog"
        assert_valid_asff(findings)


def test_v2_fields_and_merging() -> None:
    data = (shared_fixture_dir("trufflehog") / "v2_many_vulns.json").read_bytes()
    findings = FMT.parse(data, "v2_many_vulns.json")
    first = findings[0]
    assert (first.rule_id, first.path, first.severity) == ("generic-secret", "test_all.py", Severity.HIGH)
    assert first.category is Category.SECRET and first.cwe == ("CWE-798",)
    assert first.properties["commit"] == "288f35ed2e73145e3578207e896a4cf1600bea45"
    assert first.location_key == f"secret:{first.secret.sha256}"
    assert "Generic Secret" in first.title and first.secret.masked in first.title
    repeated = findings[1]  # secret = '9ed5…' committed in 6 commits
    assert repeated.properties["occurrences"] == "6"
    keys = {(f.path, f.rule_id) for f in findings}
    assert ("scripts/searchOrg.py", "pgp-private-key-block") in keys


def test_v3_fields() -> None:
    data = (shared_fixture_dir("trufflehog") / "v3_github.json").read_bytes()
    with keyed(FingerprintKey(b"k" * 32)):
        aws, uri, key = FMT.parse(data, "v3_github.json")
    # early v3 releases wrote Raw as base64; the digest is the value's own (keyed)
    assert aws.secret.sha256 == hmac.new(b"k" * 32, b"AKIAYVP4CIPPERUVIFXG",
                                         hashlib.sha256).hexdigest()
    assert aws.secret.masked == "AKIA…IFXG"
    assert (aws.rule_id, aws.path, aws.location.start_line) == ("AWS", "keys", 4)
    assert aws.severity is Severity.CRITICAL and aws.properties["verified"] == "true"
    assert aws.properties["source"] == "Github"
    assert uri.properties["occurrences"] == "2"  # the same result printed twice
    assert key.rule_id == "PrivateKey" and key.secret.masked.startswith("-----BEGIN OPENSSH")
    assert_valid_asff([aws, uri, key])


def _v3(**changes: object) -> dict:
    row = {
        "SourceMetadata": {"Data": {"Filesystem": {"file": "./app/.env", "line": 2}}},
        "SourceID": 1, "SourceType": 15, "SourceName": "trufflehog - filesystem",
        "DetectorType": 2, "DetectorName": "AWS", "DecoderName": "PLAIN", "Verified": False,
        "Raw": "AKIAT4NV7XQ2LM9RK3PW", "RawV2": "AKIAT4NV7XQ2LM9RK3PWHq3Zr8Wm1Xt6Yv4Ub9Nc2Pd7Ke5Lf0Jg3Sa8Tb1C",
        "Redacted": "AKIAT4NV7XQ2LM9RK3PW", "ExtraData": {"account": "123456789012"},
        "StructuredData": None,
    }
    row.update(changes)
    return row


def _lines(*rows: dict) -> bytes:
    return "\n".join(json.dumps(r) for r in rows).encode()


def test_current_v3_plain_raw_filesystem_and_log_lines() -> None:
    log = {"level": "info-0", "ts": "2024-01-01T00:00:00Z", "logger": "trufflehog", "msg": "finished scanning"}
    key = FingerprintKey(b"k" * 32)
    with keyed(key):
        (f,) = FMT.parse(_lines(_v3(), log), "fs.jsonl")
    assert f.secret.sha256 == hmac.new(b"k" * 32, b"AKIAT4NV7XQ2LM9RK3PW", hashlib.sha256).hexdigest()
    assert (f.path, f.location.start_line) == ("app/.env", 2)
    assert f.severity is Severity.HIGH and f.severity_original == "unverified"
    assert f.properties["raw_v2_sha256"] == key.digest(
        "AKIAT4NV7XQ2LM9RK3PWHq3Zr8Wm1Xt6Yv4Ub9Nc2Pd7Ke5Lf0Jg3Sa8Tb1C")
    assert "Hq3Zr8Wm1Xt6" not in repr(f) and "123456789012" not in repr(f)
    assert_valid_asff([f])


def test_identity_survives_line_shifts() -> None:
    moved = _v3(SourceMetadata={"Data": {"Filesystem": {"file": "app/.env", "line": 40}}})
    (a,) = FMT.parse(_lines(_v3()), "a")
    (b,) = FMT.parse(_lines(moved), "b")
    assert a.fingerprint() == b.fingerprint()


def test_empty_report_is_clean() -> None:
    assert FMT.parse(b"", "empty.json") == []
    assert FMT.parse(b"\n\n", "blank.json") == []


@pytest.mark.parametrize("bad", [
    b"{",
    b"[1, 2]",
    b'[{"path": "a", "reason": "x", "stringsFound": []}]',
    b'{"foo": 1}',
    b'{"path": "a", "reason": "x", "stringsFound": "nope"}',
    b'{"SourceMetadata": {}, "DetectorName": "AWS"}',
    b'{"branch": "x"}\nnot json\n',
])
def test_malformed_reports_raise_format_error(bad: bytes) -> None:
    with pytest.raises(ReportFormatError) as err:
        FMT.parse(bad, "broken.json")
    assert "broken.json" in str(err.value)


def test_sniffer_skips_leading_log_lines_and_leaves_arrays_to_trufflehog3() -> None:
    from secpipe.formats import Document

    log = {"level": "info-0", "ts": "2024-01-01T00:00:00Z", "msg": "running source"}
    assert FMT.sniff(Document(_lines(log, _v3())))
    assert not FMT.sniff(Document(json.dumps([_v3()]).encode()))
    assert not FMT.sniff(Document(_lines(log)))
