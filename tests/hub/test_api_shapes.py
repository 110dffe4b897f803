"""The hub's answers against botocore's output shapes, byte for byte as sent.

botocore's parser silently drops members its shape lacks, so the check reads the raw HTTP body
(an `after-call` hook) and walks it with the operation's output shape: no member the shape
lacks, every required member present, every value of the shape's type and enum. The findings
are real: secpipe's own from the fixtures of tests/fixtures, and where ../shared is present,
Security Hub's exports of Config, GuardDuty and Inspector findings. Also: ProcessedAt on
every finding, and the 100-insight quota.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from typing import Any

import pytest

from secpipe.formats import get_format
from secpipe.hub.insights import MAX_CUSTOM_INSIGHTS
from secpipe.model import SourceContext, to_asff
from secpipe.pipeline.identity import assign_identities
from tests.conftest import OWN_FIXTURES, SHARED_FIXTURES
from tests.hub.test_api_support import Hub, hub  # noqa: F401

botocore = pytest.importorskip("botocore")
from botocore.exceptions import ClientError  # noqa: E402

REPORTS = [("checkov", "checkov/example-web.json"),
           ("detect-secrets", "detect-secrets/example-web.json"),
           ("ecr", "ecr/enhanced.json"), ("trivy", "trivy/trivy-0.76-fs-secret-misconfig.json")]


def shape_problems(value: Any, shape: Any, path: str = "$") -> list[str]:
    """Where `value` (decoded JSON) does not fit `shape` (botocore), as readable paths."""
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{path}: {type(value).__name__}, not an object ({shape.name})"]
        members = {m.serialization.get("name", n): m for n, m in shape.members.items()
                   if not m.serialization.get("location")}
        problems = [f"{path}.{k}: {shape.name} has no such member" for k in value
                    if k not in members]
        problems += [f"{path}.{r}: required by {shape.name}" for r in shape.required_members
                     if r in members and r not in value]
        for key, item in value.items():
            if key in members:
                problems += shape_problems(item, members[key], f"{path}.{key}")
        return problems
    if kind == "list":
        if not isinstance(value, list):
            return [f"{path}: not a list"]
        return [p for i, item in enumerate(value)
                for p in shape_problems(item, shape.member, f"{path}[{i}]")]
    if kind == "map":
        if not isinstance(value, dict):
            return [f"{path}: not an object (map)"]
        return [p for k, item in value.items()
                for p in shape_problems(item, shape.value, f"{path}[{k!r}]")]
    ok = {
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "long": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "double": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "timestamp": lambda v: isinstance(v, (str, int, float)) and not isinstance(v, bool),
        "blob": lambda v: isinstance(v, str),
    }[kind](value)
    if not ok:
        return [f"{path}: {value!r} is not a {kind}"]
    if kind == "string" and shape.enum and value not in shape.enum:
        return [f"{path}: {value!r} is not one of {shape.name}'s values"]
    return []


class Recorder:
    """The raw body of every answer a client got, by operation name."""

    def __init__(self, client: Any) -> None:
        self.bodies: dict[str, list[bytes]] = {}
        client.meta.events.register("after-call.securityhub", self._record)

    def _record(self, http_response: Any, model: Any, **_: Any) -> None:
        self.bodies.setdefault(model.name, []).append(http_response.content)


def _own_findings() -> list[dict[str, Any]]:
    ctx = SourceContext(repo="shapes", branch="main", commit="c0ffee", run_id="run-shapes",
                        stage="scan", tool_version="1.0")
    out = []
    for fmt, rel in REPORTS:
        path = OWN_FIXTURES / rel
        out += [to_asff(f, ctx) for f in
                assign_identities(get_format(fmt).parse(path.read_bytes(), path.name))]
    return out


def _foreign_findings() -> list[dict[str, Any]]:
    out = []
    for path in sorted((SHARED_FIXTURES / "awssecurityhub").glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        items = doc.get("Findings") or doc.get("findings") if isinstance(doc, dict) else doc
        out += [f for f in items or [] if isinstance(f, dict)]
    return out


def test_every_answer_fits_its_output_shape(hub: Hub) -> None:  # noqa: F811
    client = hub.client()
    seen = Recorder(client)
    model = client.meta.service_model
    before = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    findings = _own_findings()
    assert len(findings) > 50
    for i in range(0, len(findings), 100):
        answer = client.batch_import_findings(Findings=findings[i:i + 100])
        assert answer["FailedCount"] == 0, answer["FailedFindings"][:3]
    # Other products' exports as the hub takes them from files (`secpipe import`): boto3's own
    # validation would refuse some (an `EpssScore` member, a BaseScore "7.5"), the store not.
    foreign = _foreign_findings()
    if foreign:
        result = hub.store.batch_import(foreign)
        refused = {f["Id"] for f in result.failed}
        assert result.success_count > len(foreign) // 2, result.failed
        # refused as Security Hub refuses them: a missing or malformed AwsAccountId, more
        # than 50 ProductFields
        assert all("AwsAccountId" in f["ErrorMessage"] or "ProductFields" in f["ErrorMessage"]
                   for f in result.failed), result.failed
        findings += [f for f in foreign if f["Id"] not in refused]
    got = [f for page in client.get_paginator("get_findings").paginate(
        PaginationConfig={"PageSize": 100}) for f in page["Findings"]]
    assert {f["Id"] for f in got} >= {f["Id"] for f in findings}
    first = got[0]
    client.batch_update_findings(
        FindingIdentifiers=[{"Id": first["Id"], "ProductArn": first["ProductArn"]}],
        Workflow={"Status": "NOTIFIED"}, Note={"Text": "seen", "UpdatedBy": "shapes"})
    arn = client.create_insight(Name="by severity", Filters={}, GroupByAttribute="SeverityLabel")[
        "InsightArn"]
    client.get_insights(InsightArns=[arn])
    client.get_insights(MaxResults=10)
    client.get_insight_results(InsightArn=arn)
    client.update_insight(InsightArn=arn, Name="by severity, renamed")
    client.delete_insight(InsightArn=arn)
    try:
        client.enable_security_hub()
    except ClientError as err:  # the module's hub may be enabled already
        assert err.response["Error"]["Code"] == "ResourceConflictException"
    client.describe_hub()

    assert set(seen.bodies) >= {"BatchImportFindings", "GetFindings", "BatchUpdateFindings",
                                "CreateInsight", "GetInsights", "GetInsightResults",
                                "UpdateInsight", "DeleteInsight", "DescribeHub"}
    for operation, bodies in seen.bodies.items():
        shape = model.operation_model(operation).output_shape
        for body in bodies:
            if not body:
                continue
            doc = json.loads(body)
            if "Code" in doc and "Message" in doc:  # an error answer (ResourceConflict)
                continue
            assert shape_problems(doc, shape) == [], operation

    raw = [f for body in seen.bodies["GetFindings"] for f in json.loads(body)["Findings"]]
    assert len(raw) == len(got)
    for finding in raw:
        assert finding["ProcessedAt"] >= before, finding["Id"]
        assert "Normalized" not in finding["FindingProviderFields"].get("Severity", {})
    # what the filter removed was there: the stored documents carry it
    stored, _ = hub.store.get_findings({"Id": [{"Value": first["Id"], "Comparison": "EQUALS"}]})
    assert "Normalized" in stored[0]["FindingProviderFields"]["Severity"]


def test_processed_at_is_set_on_every_import(hub: Hub) -> None:  # noqa: F811
    client = hub.client()
    (finding,) = [f for f in _own_findings() if f["ProductFields"]["secpipe/Tool"] == "ecr"][:1]
    finding = {**finding, "Id": finding["Id"] + "-processed", "ProcessedAt": "2001-01-01T00:00:00Z"}
    key = {"Id": [{"Value": finding["Id"], "Comparison": "EQUALS"}]}
    client.batch_import_findings(Findings=[finding])
    (first,) = client.get_findings(Filters=key)["Findings"]
    assert first["ProcessedAt"] > "2020"  # the hub's, not the producer's
    time.sleep(0.01)
    newer = {**finding, "UpdatedAt": datetime.now(timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"}
    client.batch_import_findings(Findings=[newer])
    (second,) = client.get_findings(Filters=key)["Findings"]
    assert second["ProcessedAt"] > first["ProcessedAt"]
    # the store's processed_at column (its filters and sorting) says what the answer says
    found, _ = hub.store.get_findings({**key, "ProcessedAt": [
        {"Start": second["ProcessedAt"], "End": second["ProcessedAt"]}]})
    assert [f["Id"] for f in found] == [finding["Id"]]


def test_the_101st_custom_insight_is_limit_exceeded(hub: Hub) -> None:  # noqa: F811
    client = hub.client()
    existing = [i["InsightArn"] for page in client.get_paginator("get_insights").paginate()
                for i in page["Insights"]]
    made = [client.create_insight(Name=f"quota {n}", Filters={},
                                  GroupByAttribute="SeverityLabel")["InsightArn"]
            for n in range(MAX_CUSTOM_INSIGHTS - len(existing))]
    with pytest.raises(ClientError) as err:
        client.create_insight(Name="one too many", Filters={}, GroupByAttribute="SeverityLabel")
    assert err.value.response["Error"]["Code"] == "LimitExceededException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    client.delete_insight(InsightArn=made[0])
    client.create_insight(Name="room again", Filters={}, GroupByAttribute="SeverityLabel")
    assert MAX_CUSTOM_INSIGHTS == 100
