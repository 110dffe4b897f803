"""OCSF: secpipe's events conform to OCSF 1.1.0 (the subset in tests/fixtures/ocsf, with its
source), and ASFF -> OCSF -> Finding keeps every finding's identity.

The findings come from real reports: secpipe's own fixtures (the example's checkov and
detect-secrets reports, ECR's scan findings) and, where ../shared is present, grype, semgrep
(code findings with CWEs), Falco alerts and Security Hub exports of other products.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from secpipe.convert import convert_report
from secpipe.formats import ReportFormatError, get_format, sniff
from secpipe.model import Finding, from_asff, to_asff
from secpipe.model.ocsf import OCSF_VERSION, asff_to_ocsf
from secpipe.model.ocsf_read import ocsf_to_asff
from secpipe.pipeline.identity import assign_identities
from tests.asserts import CTX
from tests.conftest import OWN_FIXTURES, SHARED_FIXTURES
from tests.formats.ocsf_schema import schema, validate

FMT = get_format("ocsf")

# (label, format, report, the OCSF class its findings take, secpipe category)
REPORTS = [
    ("secret", "detect-secrets", OWN_FIXTURES / "detect-secrets" / "example-web.json", 2004),
    ("misconfiguration", "checkov", OWN_FIXTURES / "checkov" / "example-web.json", 2003),
    ("vulnerability", "ecr", OWN_FIXTURES / "ecr" / "enhanced.json", 2002),
    ("vulnerability-grype", "grype", SHARED_FIXTURES / "anchore_grype" / "many_vulns3.json", 2002),
    ("code-cwe", "semgrep", SHARED_FIXTURES / "semgrep" / "cwe_list.json", 2002),
    ("runtime", "falco", SHARED_FIXTURES / "falco" / "single_rule_with_cat_write.json", 2004),
]
FOREIGN_ASFF = sorted((SHARED_FIXTURES / "awssecurityhub").glob("*.json")) + [
    SHARED_FIXTURES / "asff" / "prowler-output.asff.json"]


def _asff_of(fmt: str, path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        pytest.skip(f"{path} is absent (../shared is not beside this checkout)")
    findings = assign_identities(get_format(fmt).parse(path.read_bytes(), path.name))
    assert findings, f"{path.name} gave no findings"
    return [to_asff(f, CTX) for f in findings]


def test_the_subset_is_the_pinned_version() -> None:
    doc = schema()
    assert doc["ocsf_version"] == OCSF_VERSION == "1.1.0"
    assert {c["class_uid"] for c in doc["classes"].values()} == {2002, 2003, 2004}


@pytest.mark.parametrize("label, fmt, path, class_uid", REPORTS, ids=[r[0] for r in REPORTS])
def test_events_conform_to_ocsf(label: str, fmt: str, path: Path, class_uid: int) -> None:
    for asff in _asff_of(fmt, path):
        event = asff_to_ocsf(asff)
        assert validate(event) == [], (label, asff["Id"])
        assert event["class_uid"] == class_uid, (label, asff["Id"])
        assert event["category_uid"] == 2 and event["type_uid"] == class_uid * 100 + 1
        assert event["finding_info"]["uid"] == asff["Id"]
        assert event["severity_id"] == {"INFORMATIONAL": 1, "LOW": 2, "MEDIUM": 3, "HIGH": 4,
                                        "CRITICAL": 5}[asff["Severity"]["Label"]]
        assert event["status_id"] == 1  # NEW
        assert event["metadata"]["product"] == {
            "name": "secpipe", "vendor_name": "secpipe", "uid": CTX.product_arn,
            "feature": {"name": asff["ProductFields"]["secpipe/Tool"]}}
        assert event["metadata"]["version"] == "1.1.0"
        assert event["time"] == event["finding_info"]["modified_time"] > 1_500_000_000_000


@pytest.mark.parametrize("label, fmt, path, class_uid", REPORTS, ids=[r[0] for r in REPORTS])
def test_round_trip_keeps_identity(label: str, fmt: str, path: Path, class_uid: int) -> None:
    asffs = _asff_of(fmt, path)
    data = json.dumps([asff_to_ocsf(a) for a in asffs]).encode()
    assert sniff(data, "events.json").name == "ocsf"
    back = FMT.parse(data, "events.json")
    assert back == [from_asff(a) for a in asffs]  # the same Findings, field for field
    assert [to_asff(f, CTX)["Id"] for f in back] == [a["Id"] for a in asffs]


@pytest.mark.parametrize("path", FOREIGN_ASFF, ids=[p.name for p in FOREIGN_ASFF])
def test_other_products_asff_survives_ocsf(path: Path) -> None:
    """Security Hub's own findings (Config, GuardDuty, Inspector) and prowler's: the ASFF Id
    is finding_info.uid, and reading the OCSF back gives the Finding the ASFF gives."""
    asffs = [a for a in _asff_docs(path)]
    for asff in asffs:
        event = asff_to_ocsf(asff)
        assert validate(event) == [], (path.name, asff["Id"])
        assert event["finding_info"]["uid"] == asff["Id"]
        (back,) = FMT.parse(json.dumps(event).encode(), "one.json")
        assert back == from_asff(asff)
        assert back.properties["AsffId"] == asff["Id"]


def _asff_docs(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        pytest.skip(f"{path} is absent (../shared is not beside this checkout)")
    doc = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(doc, dict):
        doc = doc.get("Findings") or doc.get("findings") or [doc]
    return [d for d in doc if isinstance(d, dict) and d.get("Id")]


def test_workflow_and_record_state_map_onto_status_and_activity() -> None:
    (asff,) = _asff_of("checkov", OWN_FIXTURES / "checkov" / "example-web.json")[:1]
    cases = [({"Workflow": {"Status": "SUPPRESSED"}}, 3, 1),
             ({"Workflow": {"Status": "NOTIFIED"}, "UpdatedAt": "2030-01-01T00:00:00.000Z"}, 2, 1),
             ({"Workflow": {"Status": "RESOLVED"}}, 4, 3),
             ({"RecordState": "ARCHIVED"}, 1, 3)]
    for change, status_id, activity_id in cases:
        event = asff_to_ocsf({**asff, **change})
        assert validate(event) == []
        assert (event["status_id"], event["activity_id"]) == (status_id, activity_id), change
        assert event["type_uid"] == 200300 + activity_id
        back = ocsf_to_asff(event)
        assert back["Workflow"]["Status"] == (change.get("Workflow") or {"Status": "NEW"})["Status"]
        assert back["RecordState"] == change.get("RecordState", "ACTIVE")


def test_an_edited_severity_reads_as_edited() -> None:
    (asff,) = _asff_of("checkov", OWN_FIXTURES / "checkov" / "example-web.json")[:1]
    event = asff_to_ocsf(asff)
    event["severity_id"] = 5
    back = ocsf_to_asff(event)
    assert back["Severity"]["Label"] == "CRITICAL" and "Normalized" not in back["Severity"]


def test_the_validator_catches_what_ocsf_forbids() -> None:
    (asff,) = _asff_of("ecr", OWN_FIXTURES / "ecr" / "enhanced.json")[:1]
    good = asff_to_ocsf(asff)
    assert validate(good) == []
    broken = json.loads(json.dumps(good))
    del broken["finding_info"]["uid"]
    broken["type_uid"] = 200299
    broken["severity_id"] = 7
    broken["time"] = "2026-01-01T00:00:00Z"
    broken["resources"] = []  # Vulnerability Finding has `resource` in 1.1.0, not `resources`
    broken["vulnerabilities"][0].pop("cve")
    problems = "\n".join(validate(broken))
    for expected in ("finding_info.uid: required", "type_uid must be", "severity_id: 7",
                     "time: '2026", ".resources: not an attribute", "needs one of ['cve', 'cwe']"):
        assert expected in problems
    del broken["vulnerabilities"]
    assert "vulnerabilities: required" in "\n".join(validate(broken))


def test_convert_to_ocsf_and_back() -> None:
    data = (OWN_FIXTURES / "checkov" / "example-web.json").read_bytes()
    events = json.loads(convert_report(data, source="checkov.json", from_="checkov", to="ocsf"))
    assert events and all(validate(e) == [] for e in events)
    again = json.loads(convert_report(json.dumps(events).encode(), source="ocsf.json",
                                      from_="auto", to="asff"))
    assert [a["Id"] for a in again] == [e["finding_info"]["uid"] for e in events]


def test_shapes_an_ocsf_report_takes() -> None:
    own = (OWN_FIXTURES / "ocsf" / "example-web.ocsf.json").read_bytes()
    events = json.loads(own)
    findings = FMT.parse(own, "example-web.ocsf.json")
    assert len(findings) == len(events) == 5
    lines = "\n".join(json.dumps(e) for e in events).encode()
    page = json.dumps({"Findings": events}).encode()
    one = json.dumps(events[0]).encode()
    for data in (lines, page):
        assert FMT.parse(data, "x.json") == findings and sniff(data, "x.json").name == "ocsf"
    assert FMT.parse(one, "x.json") == findings[:1]
    assert {f.tool for f in findings} == {"checkov", "detect-secrets"}


@pytest.mark.parametrize("doc, problem", [
    ({"class_uid": 3002, "finding_info": {"uid": "x"}}, "class_uid 3002"),
    ({"class_uid": 2004, "finding_info": {"title": "no uid"}}, "finding_info.uid"),
    ([{"Id": "asff", "ProductArn": "arn", "Title": "t"}], "not an OCSF finding"),
    ({}, "not an OCSF finding"),
    ("text", "not OCSF"),
], ids=["authentication-event", "no-uid", "asff", "empty-object", "string"])
def test_what_is_not_an_ocsf_finding_is_refused(doc: Any, problem: str) -> None:
    with pytest.raises(ReportFormatError) as err:
        FMT.parse(json.dumps(doc).encode(), "other.json")
    assert "other.json" in str(err.value) and problem in str(err.value)


def test_another_producers_event_is_read() -> None:
    """A Detection Finding as another product writes it (hand-written after OCSF 1.1.0's
    attributes): no `unmapped`, times in ms, its own product and account."""
    event = {
        "category_uid": 2, "class_uid": 2004, "activity_id": 1, "type_uid": 200401,
        "time": 1767225600000, "severity_id": 4, "severity": "High", "status_id": 1,
        "metadata": {"version": "1.1.0", "product": {"name": "Prowler", "vendor_name": "Prowler",
                                                     "uid": "prowler"}},
        "cloud": {"provider": "AWS", "region": "eu-west-1", "account": {"uid": "123456789012"}},
        "finding_info": {"uid": "prowler-aws-s3_bucket_public-123", "title": "Bucket is public",
                         "desc": "S3 bucket allows public read", "created_time": 1767225600000},
        "resources": [{"type": "AwsS3Bucket", "uid": "arn:aws:s3:::shop", "region": "eu-west-1"}],
        "remediation": {"desc": "Block public access", "references": ["https://docs.aws/x"]},
    }
    assert validate(event) == []
    (finding,) = FMT.parse(json.dumps([event]).encode(), "prowler.ocsf.json")
    assert isinstance(finding, Finding)
    assert (finding.tool, finding.title, finding.severity.name) == (
        "prowler", "Bucket is public", "HIGH")
    assert finding.resource is not None and finding.resource.id == "arn:aws:s3:::shop"
    assert finding.remediation == "Block public access"
    assert finding.properties["AsffId"] == "prowler-aws-s3_bucket_public-123"
    assert finding.properties["AwsAccountId"] == "123456789012"
    assert finding.location_key == "asff:prowler-aws-s3_bucket_public-123"


def test_a_runtime_alert_is_a_detection_finding() -> None:
    """A Falco alert (json_output's shape) becomes a Detection Finding whose times are the
    alert's: `finding_info.created_time` is when it happened."""
    alert = {"time": "2026-03-01T10:20:30.123456789Z", "rule": "Terminal shell in container",
             "priority": "Notice", "source": "syscall", "hostname": "node-1",
             "output": "10:20:30 Notice A shell was spawned in a container (user=root "
                       "container_id=4f2a proc.cmdline=sh -i)",
             "tags": ["container", "shell", "mitre_execution"],
             "output_fields": {"proc.name": "sh", "proc.cmdline": "sh -i",
                               "container.id": "4f2a", "container.image.repository": "web",
                               "k8s.ns.name": "shop", "k8s.pod.name": "web-1",
                               "user.name": "root"}}
    (finding,) = get_format("falco").parse(json.dumps(alert).encode() + b"\n", "falco.json")
    asff = to_asff(finding, CTX)
    event = asff_to_ocsf(asff)
    assert validate(event) == []
    assert event["class_uid"] == 2004 and event["type_uid"] == 200401
    assert event["finding_info"]["created_time"] == 1772360430123
    assert FMT.parse(json.dumps([event]).encode(), "x.json") == [from_asff(asff)]
