from __future__ import annotations

import json

import pytest

from secpipe.formats import ReportFormatError, get_format
from secpipe.formats.interface import Document
from secpipe.model import Severity
from tests.asserts import check_fixtures
from tests.conftest import manifest, shared_fixture_dir

FMT = get_format("terrascan")


def _violation(**changes: object) -> dict:
    return {"rule_name": "s3Versioning", "description": "Enable versioning",
            "rule_id": "AC_AWS_0214", "severity": "MEDIUM", "category": "Resilience",
            "resource_name": "b", "resource_type": "aws_s3_bucket", "file": "main.tf",
            "line": 4, **changes}


def _report(*violations: dict) -> bytes:
    results = {"violations": list(violations), "skipped_violations": None,
               "scan_summary": {"violated_policies": len(violations)}}
    return json.dumps({"results": results}).encode()


def test_shared_fixtures_match_manifest() -> None:
    folder = shared_fixture_dir("terrascan")
    expected = manifest("terrascan")
    assert expected, "MANIFEST.tsv lists no terrascan fixture"
    check_fixtures(FMT, folder, expected)


def test_first_finding_details() -> None:
    data = (shared_fixture_dir("terrascan") / "many_findings.json").read_bytes()
    findings = FMT.parse(data, "many_findings.json")
    first = findings[0]
    assert first.title == "Infrastructure Security: gkeControlPlaneNotPublic"
    assert first.severity is Severity.HIGH and first.rule_id == "accurics.gcp.NS.109"
    assert first.location.path == "cluster.tf" and first.location.start_line == 52
    assert first.resource.id == "google_container_cluster.k8s_cluster"
    assert first.location_key == "google_container_cluster.k8s_cluster|cluster.tf"
    assert first.properties["scan_errors"] == "2"
    keys = [f.identity_key() for f in findings]
    assert len(set(keys)) == len(keys)


@pytest.mark.parametrize("word, expected", [
    ("HIGH", Severity.HIGH), ("MEDIUM", Severity.MEDIUM), ("LOW", Severity.LOW),
    ("", Severity.MEDIUM), ("strange", Severity.MEDIUM),
])
def test_severity_mapping(word: str, expected: Severity) -> None:
    (finding,) = FMT.parse(_report(_violation(severity=word)), "r.json")
    assert finding.severity is expected


def test_exact_repeats_are_one_finding_and_null_is_none() -> None:
    findings = FMT.parse(_report(_violation(), _violation(), _violation(line=9)), "r.json")
    assert len(findings) == 2
    assert FMT.parse(b'{"results": {"violations": null, "scan_summary": {}}}', "r.json") == []


@pytest.mark.parametrize("bad", [
    b"", b"{", b"[]", b'{"a": 1}', b'{"results": []}', b'{"results": {"x": 1}}',
    b'{"results": {"violations": {}}}', b'{"results": {"violations": [1]}}',
    b'{"results": {"violations": [{"file": "a.tf"}]}}',
])
def test_malformed_reports_raise_format_error(bad: bytes) -> None:
    with pytest.raises(ReportFormatError) as err:
        FMT.parse(bad, "broken.json")
    assert "broken.json" in str(err.value)


def test_sniff_is_specific() -> None:
    assert not FMT.sniff(Document(b'{"results": null}'))
    assert not FMT.sniff(Document(b'{"results": {"violations": []}}'))
    assert FMT.sniff(Document(_report()))
