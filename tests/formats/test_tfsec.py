from __future__ import annotations

import json

import pytest

from secpipe.formats import ReportFormatError, get_format
from secpipe.formats.interface import Document
from secpipe.model import Severity
from tests.asserts import check_fixtures
from tests.conftest import manifest, shared_fixture_dir

FMT = get_format("tfsec")


def _result(**changes: object) -> dict:
    base = {"rule_id": "aws-s3-enable-versioning", "long_id": "aws-s3-enable-versioning",
            "rule_description": "S3 Data should be versioned", "rule_provider": "aws",
            "impact": "i", "resolution": "Enable versioning", "links": ["https://x/y"],
            "description": "Bucket does not have versioning enabled", "severity": "MEDIUM",
            "status": 0, "resource": "aws_s3_bucket.a",
            "location": {"filename": "/src/main.tf", "start_line": 3, "end_line": 9}}
    return {**base, **changes}


def test_shared_fixtures_match_manifest() -> None:
    folder = shared_fixture_dir("tfsec")
    expected = manifest("tfsec")
    assert expected, "MANIFEST.tsv lists no tfsec fixture"
    check_fixtures(FMT, folder, expected)


def test_module_instances_collapse_into_one_finding() -> None:
    data = (shared_fixture_dir("tfsec") / "many_findings_current.json").read_bytes()
    findings = FMT.parse(data, "current.json")
    assert len(json.loads(data)["results"]) == 19
    first = findings[0]
    assert first.title == "An ingress Network ACL rule allows ALL ports."
    assert first.severity is Severity.CRITICAL
    assert first.location.path == "/tmp/aws-eks/modules/vpc-subnets/resources.tf"
    assert first.location.start_line == 155
    egress = [f for f in findings if f.rule_id == "aws-vpc-no-public-egress-sgr"]
    assert len(egress) == 1 and egress[0].properties["occurrences"] == "6"
    assert "module.SG_NAT" in egress[0].description
    # no location_key: the pipeline tells apart one rule's findings in a file by their order
    assert all(f.location_key is None for f in findings)
    places = [(f.rule_id, f.location.path, f.location.start_line) for f in findings]
    assert len(set(places)) == len(places)


def test_legacy_result() -> None:
    data = (shared_fixture_dir("tfsec") / "one_finding_legacy.json").read_bytes()
    (finding,) = FMT.parse(data, "legacy.json")
    assert finding.title == "Potentially sensitive data stored in block attribute."
    assert finding.severity is Severity.MEDIUM and finding.severity_original == "WARNING"
    assert finding.location.path == "tfsec-test/identity.tf"
    assert finding.location.start_line == 226
    assert finding.remediation_url == "https://tfsec.dev/docs/general/GEN003/"


@pytest.mark.parametrize("word, expected", [
    ("CRITICAL", Severity.CRITICAL), ("HIGH", Severity.HIGH), ("ERROR", Severity.HIGH),
    ("MEDIUM", Severity.MEDIUM), ("WARNING", Severity.MEDIUM), ("LOW", Severity.LOW),
    ("INFO", Severity.LOW), ("odd", Severity.MEDIUM),
])
def test_severity_mapping(word: str, expected: Severity) -> None:
    (finding,) = FMT.parse(json.dumps({"results": [_result(severity=word)]}).encode(), "r")
    assert finding.severity is expected


def test_passed_and_ignored_results_are_not_findings() -> None:
    results = [_result(status=1), _result(status=2), _result(status="passed"),
               _result(passed=True), _result(status=0, rule_id="kept")]
    findings = FMT.parse(json.dumps({"results": results}).encode(), "r.json")
    assert [f.rule_id for f in findings] == ["kept"]
    assert findings[0].properties["resources"] == "aws_s3_bucket.a"


@pytest.mark.parametrize("bad", [
    b"", b"{", b"[]", b'{"a": 1}', b'{"results": {}}', b'{"results": [1]}',
    b'{"results": [{"rule_id": "x"}]}', b'{"results": [{"location": {}}]}',
])
def test_malformed_reports_raise_format_error(bad: bytes) -> None:
    with pytest.raises(ReportFormatError) as err:
        FMT.parse(bad, "broken.json")
    assert "broken.json" in str(err.value)


def test_sniff_is_specific() -> None:
    assert not FMT.sniff(Document(b'{"results": {"violations": []}}'))
    assert not FMT.sniff(Document(b'{"results": null, "errors": []}'))
    assert not FMT.sniff(Document(b'{"results": [{"check_id": "x"}]}'))
