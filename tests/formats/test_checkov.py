from __future__ import annotations

import json
from collections import Counter

import pytest

from secpipe.formats import ReportFormatError, get_format, sniff
from secpipe.formats.checkov import scanned_resource_count
from secpipe.model import Category, Severity, to_asff
from tests.asserts import CTX, assert_valid_asff, check_fixtures
from tests.conftest import OWN_FIXTURES, manifest, shared_fixture_dir

FMT = get_format("checkov")
OWN = OWN_FIXTURES / "checkov"
# Values planted in the scanned tree that produced the own fixtures (fake, but secret-shaped).
PLANTED = ("AKIAFAKEKEYFORTESTS2", "FAKEfakeFAKEfakeNOTaSECRETnotAsecret0000")


def _parse(name: str, folder=OWN):
    data = (folder / name).read_bytes()
    return FMT.parse(data, name)


def test_shared_fixtures_match_manifest() -> None:
    folder = shared_fixture_dir("checkov")
    expected = manifest("checkov")
    assert expected, "MANIFEST.tsv lists no checkov fixture"
    check_fixtures(FMT, folder, expected)


def test_many_vuln_counts_every_failed_check() -> None:
    # MANIFEST says 'unknown' (DefectDojo only asserts > 2); the file lists 3 failed checks
    # although its summary claims 2: the list is what we trust.
    findings = _parse("checkov-report-many-vuln.json", shared_fixture_dir("checkov"))
    assert [f.rule_id for f in findings] == ["CKV_AZURE_41", "CKV_AZURE_42", "CKV_AZURE_43"]


def test_list_of_reports_keeps_each_framework() -> None:
    findings = _parse("checkov-report-multiple-check_type.json", shared_fixture_dir("checkov"))
    assert Counter(f.properties["check_type"] for f in findings) == {"terraform": 11,
                                                                      "dockerfile": 2}
    first = findings[0]
    # no severity in the report: secpipe's table gives one, with its basis
    assert first.rule_id == "CKV_AWS_161" and first.severity is Severity.HIGH
    assert first.properties["severity_basis"] == "authentication"
    assert first.severity_original is None
    assert first.location.path == "aws/db-app.tf" and first.location.start_line == 1
    assert first.resource.id == "aws_db_instance.default"
    assert first.location_key == "CKV_AWS_161|aws_db_instance.default|aws/db-app.tf"
    assert first.title == "Ensure RDS database has IAM authentication enabled"
    docker = findings[11]
    assert docker.rule_id == "CKV_DOCKER_3"
    assert docker.location.path == "aws/resources/Dockerfile"
    assert docker.location.start_line is None  # checkov's [0, 0] is "the whole file"
    assert docker.remediation_url.startswith("https://docs.bridgecrew.io/")


def test_stated_severity_is_used() -> None:
    findings = _parse("checkov-report-severity.json", shared_fixture_dir("checkov"))
    assert [f.severity for f in findings] == [
        Severity.MEDIUM, Severity.MEDIUM, Severity.LOW, Severity.HIGH]
    assert findings[3].severity_original == "HIGH"


@pytest.mark.parametrize("word, expected", [
    ("CRITICAL", Severity.CRITICAL), ("HIGH", Severity.HIGH), ("LOW", Severity.LOW),
    ("INFO", Severity.INFORMATIONAL), (None, Severity.MEDIUM), ("bogus", Severity.MEDIUM),
])
def test_severity_mapping(word, expected) -> None:
    report = {"check_type": "terraform", "results": {"failed_checks": [
        {"check_id": "CKV_X_1", "check_name": "x", "file_path": "/a.tf",
         "file_line_range": [2, 4], "resource": "aws_s3_bucket.b", "severity": word}]}}
    (finding,) = FMT.parse(json.dumps(report).encode(), "x.json")
    assert finding.severity is expected
    assert finding.location.start_line == 2 and finding.location.end_line == 4


def test_real_checkov_all_frameworks() -> None:
    """`checkov -d DIR -o json --skip-download --quiet` (3.3.30): a list, one per framework."""
    findings = _parse("checkov-3.3.30-multi.json")
    assert Counter(f.properties["check_type"] for f in findings) == {
        "kubernetes": 22, "dockerfile": 5, "secrets": 2, "terraform": 12}
    assert all(f.properties["checkov_version"] == "3.3.30" for f in findings)
    assert_valid_asff(findings)


def test_secrets_carry_the_hash_and_no_code() -> None:
    raw = (OWN / "checkov-3.3.30-multi.json").read_bytes()
    findings = FMT.parse(raw, "multi.json")
    secrets = [f for f in findings if f.category is Category.SECRET]
    assert {f.rule_id for f in secrets} == {"CKV_SECRET_2", "CKV_SECRET_6"}
    for finding in secrets:
        # checkov's secret resource is the SHA-1 of the value: re-keyed, never kept
        assert finding.secret is not None and len(finding.secret.sha256) == 64
        assert "af5c2e1f97b18cdc2bae1c6886dbd47a85170bc1" not in repr(finding)
        assert finding.resource.id == f"secret:{finding.secret.sha256[:32]}"
        assert finding.location.path == "tf/main.tf" and finding.location.snippet is None
        asff = json.dumps(to_asff(finding, CTX))
        # checkov's own masked line reads `access_key = "AKIAF**********"`: not copied either
        assert "access_key" not in asff and "AKIAF" not in asff
    everything = json.dumps([to_asff(f, CTX) for f in findings]) + repr(findings)
    for value in PLANTED:
        assert value not in everything


def test_no_code_block_is_copied_for_any_check() -> None:
    findings = _parse("checkov-3.3.30-multi.json")
    assert all(f.location.snippet is None for f in findings)


def test_single_framework_is_one_object() -> None:
    data = (OWN / "checkov-3.3.30-kubernetes.json").read_bytes()
    assert isinstance(json.loads(data), dict)
    findings = FMT.parse(data, "k8s.json")
    assert len(findings) == 22
    assert {f.resource.id for f in findings} == {"Deployment.default.web",
                                                 "Pod.default.web.app-web"}
    assert scanned_resource_count(data, "k8s.json") == 2


@pytest.mark.parametrize("name", ["checkov-3.3.30-empty.json",
                                  "checkov-3.3.30-helm-no-binary.json"])
def test_bare_summary_parses_empty_but_says_nothing_was_scanned(name: str) -> None:
    data = (OWN / name).read_bytes()
    assert FMT.parse(data, name) == []
    assert scanned_resource_count(data, name) == 0
    assert sniff(data, name).name == "checkov"


def test_scanned_resource_count() -> None:
    assert scanned_resource_count((OWN / "checkov-3.3.30-multi.json").read_bytes(), "m") == 7
    shared = shared_fixture_dir("checkov")
    # checkov 1.0 wrote no resource_count: unknown, not zero
    old = (shared / "checkov-report-0-vuln.json").read_bytes()
    assert scanned_resource_count(old, "z") is None
    assert scanned_resource_count(
        (shared / "checkov-report-multiple-check_type.json").read_bytes(), "m") == 8
    with pytest.raises(ReportFormatError):
        scanned_resource_count(b'{"a": 1}', "broken.json")


def test_quiet_report_without_passed_lists() -> None:
    report = {"check_type": "dockerfile", "results": {"failed_checks": []},
              "summary": {"passed": 3, "failed": 0, "resource_count": 1}}
    assert FMT.parse(json.dumps(report).encode(), "q.json") == []


@pytest.mark.parametrize("bad", [
    b"", b"{", b"[]", b'"text"', b'{"a": 1}', b"[1, 2]", b'[{"check_type": "x"}]',
    b'{"check_type": "x", "results": []}',
    b'{"check_type": "x", "results": {"failed_checks": {}}}',
    b'{"check_type": "x", "results": {"failed_checks": [1]}}',
    b'{"check_type": "x", "results": {"failed_checks": [{"check_name": "no id"}]}}',
])
def test_malformed_reports_raise_format_error(bad: bytes) -> None:
    with pytest.raises(ReportFormatError) as err:
        FMT.parse(bad, "broken.json")
    assert "broken.json" in str(err.value)


@pytest.mark.parametrize("other", [
    b'[{"line":3,"code":"DL3002","message":"m","column":1,"file":"Dockerfile","level":"error"}]',
    b'{"results": null}', b'{"passed": 1}', b'{"check_type": "x"}',
])
def test_sniff_leaves_other_json_alone(other: bytes) -> None:
    from secpipe.formats.interface import Document
    assert not FMT.sniff(Document(other))


def test_a_resource_checks_share_its_place_and_resource() -> None:
    """Every check of one resource holds one Location and one Resource (frozen: shared, as
    equal texts are), equal to those it held before."""
    from secpipe.model import Location, Resource

    item = {"check_id": "CKV_AWS_1", "check_name": "n", "file_path": "/main.tf",
            "file_line_range": [1, 3], "resource": "aws_s3_bucket.b"}
    doc = {"check_type": "terraform", "results": {"failed_checks": [
        dict(item, check_id=f"CKV_AWS_{i}") for i in range(1, 4)]}, "summary": {}}
    findings = get_format("checkov").parse(json.dumps(doc).encode(), "c.json")
    assert len({id(f.location) for f in findings}) == 1
    assert len({id(f.resource) for f in findings}) == 1
    assert findings[0].location == Location("main.tf", 1, 3)
    assert findings[0].resource == Resource("Other", "aws_s3_bucket.b", {"framework": "terraform"})
