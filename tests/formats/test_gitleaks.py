from __future__ import annotations

import json

import pytest

from secpipe.formats import ReportFormatError, get_format
from secpipe.model import Category, Severity
from tests.asserts import check_fixtures
from tests.conftest import manifest, shared_fixture_dir

FMT = get_format("gitleaks")


def test_shared_fixtures_match_manifest() -> None:
    # No deliberate difference: DefectDojo's merges of repeats (gitleaks8_many.json: 4 leaks,
    # the AWS one twice -> 3; version_7.5.0.json: 8 leaks, each value in 2 commits -> 4)
    # coincide with secpipe's one finding per distinct value per file.
    folder = shared_fixture_dir("gitleaks")
    expected = manifest("gitleaks")
    assert expected, "MANIFEST.tsv lists no gitleaks fixture"
    check_fixtures(FMT, folder, expected)


def _shared(name: str):
    return FMT.parse((shared_fixture_dir("gitleaks") / name).read_bytes(), name)


def test_v8_fields() -> None:
    aws, rsa, api = _shared("gitleaks8_many.json")
    assert (aws.rule_id, aws.path, aws.location.start_line) == ("aws-access-token", "/conf/aws.tf", 2)
    assert aws.properties["occurrences"] == "2" and len(aws.properties["commits"].split()) == 2
    assert rsa.rule_id == "RSA-PK" and rsa.properties["tags"] == "tag1,tag2"
    assert api.title == "Generic API Key in tests/api.py: dfjk…f213"
    for f in (aws, rsa, api):
        assert f.category is Category.SECRET and f.severity is Severity.HIGH
        assert f.location_key == f"secret:{f.secret.sha256}"


def test_v7_fields() -> None:
    first, *_ = _shared("version_7.5.0.json")
    assert first.rule_id == "aws-access-key" and first.location.start_line == 13
    assert first.path.endswith("gitlab_secret_detection_report_1_vuln.json")
    assert first.properties["tags"] == "key,AWS"
    assert first.secret.masked == "AKIA…MPLE"
    (twitter,) = _shared("issue4336.json")
    assert twitter.rule_id == "twitter-client-id" and "date" not in twitter.properties


def test_redacted_reports_key_on_location() -> None:
    findings = _shared("redacted_data_many.json")
    assert all(f.secret is None and f.properties["redacted"] == "true" for f in findings)
    assert [f.location_key for f in findings][:2] == ["redacted:L224", "redacted:L2221"]
    assert "value redacted by the tool" in findings[0].title
    assert len({f.fingerprint() for f in findings}) == 6


def _v8(**changes: object) -> bytes:
    leak = {"Description": "AWS Access Key", "StartLine": 3, "EndLine": 3, "StartColumn": 1,
            "EndColumn": 20, "Match": "key=AKIAT4NV7XQ2LM9RK3PW", "Secret": "AKIAT4NV7XQ2LM9RK3PW",
            "File": "app/.env", "Commit": "", "Entropy": 3.5, "Author": "", "Email": "",
            "Date": "", "Message": "", "Tags": [], "RuleID": "aws-access-token",
            "Fingerprint": "app/.env:aws-access-token:3"}
    leak.update(changes)
    return json.dumps([leak]).encode()


def test_identity_survives_line_shifts_when_the_value_is_known() -> None:
    (a,) = FMT.parse(_v8(), "a")
    (b,) = FMT.parse(_v8(StartLine=30, EndLine=30), "b")
    assert a.fingerprint() == b.fingerprint()
    (r,) = FMT.parse(_v8(Secret="REDACTED", Match="key=REDACTED"), "r")
    assert r.location_key == "redacted:L3" and r.secret is None


def test_empty_report_is_clean() -> None:
    assert FMT.parse(b"[]", "clean.json") == []


@pytest.mark.parametrize("clean", [b"null", b"null\n", b"[]", b"[\n]\n"])
def test_a_clean_scan_is_no_findings(clean: bytes) -> None:
    """gitleaks 8 writes `null` for a repository without leaks (a nil Go slice): a clean
    report, not an unreadable one."""
    assert FMT.parse(clean, "gitleaks.json") == []


@pytest.mark.parametrize("bad", [
    b"",
    b"{",
    b"{}",
    b"[1]",
    b'[{"foo": "bar"}]',
    b'[{"rule": "x", "offender": "y"}]',
    b'[{"RuleID": "", "Secret": "abcdefgh12345678", "File": "a"}]',
])
def test_malformed_reports_raise_format_error(bad: bytes) -> None:
    with pytest.raises(ReportFormatError) as err:
        FMT.parse(bad, "broken.json")
    assert "broken.json" in str(err.value)
