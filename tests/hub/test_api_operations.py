"""Every operation of botocore's securityhub model, called with the real boto3 client.

An operation the hub does not implement answers as AWS answers an unknown action (HTTP 404,
`UnknownOperationException` in x-amzn-ErrorType); an implemented one never does. The
implemented set is the one `secpipe.hub.api.operations` derives from the routes, and the
README's list of operations is that module's output.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest

from secpipe.hub.api import operations
from tests.hub.test_api_support import Hub, hub  # noqa: F401

botocore = pytest.importorskip("botocore")
from botocore import xform_name  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

README = Path(__file__).resolve().parents[2] / "README.md"


def minimal(shape: Any) -> Any:
    """The smallest value botocore's parameter validation accepts for `shape`: required
    members only, strings of the least allowed length, the first enum value."""
    kind = shape.type_name
    if kind == "structure":
        if getattr(shape, "is_tagged_union", False):  # exactly one member must be set
            first = next(iter(shape.members))
            return {first: minimal(shape.members[first])}
        return {name: minimal(shape.members[name]) for name in shape.required_members}
    if kind == "list":
        return [minimal(shape.member) for _ in range(shape.metadata.get("min", 0))]
    if kind == "map":
        return {}
    if kind == "string":
        if shape.enum:
            return shape.enum[0]
        return "x" * max(1, shape.metadata.get("min", 1))
    if kind in ("integer", "long"):
        return max(1, int(shape.metadata.get("min", 1)))
    if kind in ("double", "float"):
        return 1.0
    if kind == "boolean":
        return False
    if kind == "timestamp":
        return datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    if kind == "blob":
        return b"x"
    raise AssertionError(f"no minimal value for shape type {kind}")


def _call(client: Any, op: operations.Operation) -> tuple[int, str | None]:
    model = client.meta.service_model.operation_model(op.name)
    params = minimal(model.input_shape) if model.input_shape is not None else {}
    try:
        answer = getattr(client, xform_name(op.name))(**params)
    except ClientError as err:
        return err.response["ResponseMetadata"]["HTTPStatusCode"], err.response["Error"]["Code"]
    return answer["ResponseMetadata"]["HTTPStatusCode"], None


def test_the_model_is_the_contract() -> None:
    ops = operations.model_operations()
    assert len(ops) > 100 and len({op.name for op in ops}) == len(ops)
    names = {op.name for op in operations.implemented()}
    assert {"BatchImportFindings", "GetFindings", "BatchUpdateFindings", "CreateInsight",
            "GetInsightResults", "EnableSecurityHub", "DescribeHub"} <= names
    assert names.isdisjoint(op.name for op in operations.missing())


def test_every_operation_answers_as_aws_does(hub: Hub) -> None:  # noqa: F811
    client = hub.client()
    implemented = {op.name for op in operations.implemented()}
    answers = {op.name: _call(client, op) for op in operations.model_operations()}
    unknown = {name for name, (status, code) in answers.items()
               if code == "UnknownOperationException"}
    assert unknown == set(answers) - implemented
    for name in unknown:
        assert answers[name][0] == 404, (name, answers[name])
    assert not [n for n, (_, code) in answers.items() if code == "ResourceNotFoundException"
                and n not in implemented]


def test_unknown_operation_carries_the_header_botocore_reads(hub: Hub) -> None:  # noqa: F811
    client = hub.client()
    with pytest.raises(ClientError) as err:
        client.describe_standards()          # not implemented (products are: test_products.py)
    response = err.value.response
    assert response["Error"]["Code"] == "UnknownOperationException"
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == \
        "UnknownOperationException"
    assert "GET /standards" in response["Error"]["Message"]


def test_readme_lists_the_implemented_operations() -> None:
    """Regenerate with `python -m secpipe.hub.api.operations --markdown` when this fails."""
    section = operations.readme_section(README.read_text(encoding="utf-8"))
    assert section is not None, f"{README} has no {operations.BEGIN} section"
    assert section == operations.markdown()
