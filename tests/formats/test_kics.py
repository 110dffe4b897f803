from __future__ import annotations

import json

import pytest

from secpipe.formats import ReportFormatError, get_format
from secpipe.formats.interface import Document
from secpipe.model import Category, Severity
from tests.asserts import check_fixtures
from tests.conftest import manifest, shared_fixture_dir

FMT = get_format("kics")


def _report(severity: str = "HIGH", category: str = "Insecure Configurations",
            **entry: object) -> bytes:
    files = [{"file_name": "./main.tf", "similarity_id": "abc", "line": 7,
              "issue_type": "IncorrectValue", "search_key": "aws_s3_bucket[b].acl",
              "expected_value": "acl should be private", "actual_value": "acl is public-read",
              **entry}]
    return json.dumps({"kics_version": "v1.7.13", "queries": [{
        "query_name": "S3 Bucket ACL Allows Read", "query_id": "q-1", "query_url": "https://q",
        "severity": severity, "platform": "Terraform", "category": category,
        "description": "d", "cwe": "732", "files": files}]}).encode()


def test_shared_fixtures_match_manifest() -> None:
    folder = shared_fixture_dir("kics")
    expected = manifest("kics")
    assert expected, "MANIFEST.tsv lists no kics fixture"
    check_fixtures(FMT, folder, expected)


def test_first_finding_details() -> None:
    data = (shared_fixture_dir("kics") / "many_findings.json").read_bytes()
    findings = FMT.parse(data, "many_findings.json")
    first = findings[0]
    assert first.title == "Secret Management: Passwords And Secrets In Infrastructure Code"
    assert first.severity is Severity.HIGH and first.category is Category.SECRET
    assert first.location.path == "test/charts/example/terraform/main.tf"
    assert first.location.start_line == 25
    assert first.location_key.startswith(
        "kics:70d28c075a7cda7f4b6b4a9b7f5c48a7d2213c8a4fc1332b8eabd5805a8f177a:")
    assert first.rule_id == "f996f3cb-00fc-480c-8973-8ab04d44a8cc"
    # four RBAC wildcard results share one similarity_id; the expected value tells them apart
    keys = [f.identity_key() for f in findings]
    assert len(set(keys)) == len(keys)


@pytest.mark.parametrize("word, expected", [
    ("CRITICAL", Severity.CRITICAL), ("HIGH", Severity.HIGH), ("MEDIUM", Severity.MEDIUM),
    ("LOW", Severity.LOW), ("INFO", Severity.INFORMATIONAL), ("TRACE", Severity.INFORMATIONAL),
    ("whatever", Severity.MEDIUM),
])
def test_severity_mapping(word: str, expected: Severity) -> None:
    (finding,) = FMT.parse(_report(word), "r.json")
    assert finding.severity is expected and finding.severity_original == word
    assert finding.location.path == "main.tf" and finding.cwe == ("CWE-732",)
    assert "acl is public-read" in finding.description


def test_secret_results_do_not_copy_values() -> None:
    data = _report(category="Secret Management", actual_value="hunter2hunter2",
                   search_value="hunter2hunter2")
    (finding,) = FMT.parse(data, "r.json")
    assert finding.category is Category.SECRET
    assert "hunter2" not in repr(finding)


def test_resource_is_named_when_given() -> None:
    (finding,) = FMT.parse(_report(resource_type="aws_s3_bucket", resource_name="b"), "r.json")
    assert finding.resource.id == "aws_s3_bucket.b"


def test_no_queries_is_no_findings() -> None:
    assert FMT.parse(b'{"kics_version": "v1", "queries": []}', "r.json") == []
    assert FMT.parse(b'{"kics_version": "v1", "queries": null}', "r.json") == []


@pytest.mark.parametrize("bad", [
    b"", b"{", b"[]", b'{"a": 1}', b'{"queries": {}}', b'{"queries": [1]}',
    b'{"queries": [{"query_name": "q", "files": [{"line": 1}]}]}',
    b'{"queries": [{"files": [{"file_name": "a"}]}]}',
    b'{"queries": [{"query_name": "q", "files": "x"}]}',
])
def test_malformed_reports_raise_format_error(bad: bytes) -> None:
    with pytest.raises(ReportFormatError) as err:
        FMT.parse(bad, "broken.json")
    assert "broken.json" in str(err.value)


def test_sniff_needs_kics_markers() -> None:
    assert not FMT.sniff(Document(b'{"queries": []}'))
    assert FMT.sniff(Document(b'{"kics_version": "v1", "queries": []}'))
