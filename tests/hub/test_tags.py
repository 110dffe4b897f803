"""TagResource / UntagResource / ListTagsForResource through the unmodified boto3 client: the
hub (EnableSecurityHub's Tags included), custom insights, AWS's validation and limits, and
ResourceNotFound for ARNs that name nothing."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from secpipe.hub.tags import KINDS, MAX_TAGS
from tests.hub.family_support import FamilyHub, enabled, fhub, regional  # noqa: F401
from tests.hub.test_api_shapes import Recorder, shape_problems
from tests.hub.test_api_support import signed_request

botocore = pytest.importorskip("botocore")
from botocore.exceptions import ClientError  # noqa: E402

HUB_ARN = "arn:aws:securityhub:us-east-1:000000000000:hub/default"


def _code(err: pytest.ExceptionInfo) -> str:
    return err.value.response["Error"]["Code"]


# A region no other test enables (where the hub takes the region from the SigV4 scope; before
# that, every call lands in the store's own region, still enabled here first).
TAG_REGION = "eu-central-1"


@pytest.fixture(scope="module")
def hub_arn(fhub: FamilyHub) -> str:  # noqa: F811
    client = regional(fhub, TAG_REGION)
    assert enabled(client, Tags={"team": "sec", "env": "test"})
    return client.describe_hub()["HubArn"]


def _insight(client) -> str:
    return client.create_insight(Name="tagged", GroupByAttribute="SeverityLabel", Filters={
        "RecordState": [{"Value": "ACTIVE", "Comparison": "EQUALS"}]})["InsightArn"]


def test_hub_tags_start_with_enable_security_hub(fhub: FamilyHub, hub_arn: str) -> None:  # noqa: F811
    client = regional(fhub, TAG_REGION)
    assert client.list_tags_for_resource(ResourceArn=hub_arn)["Tags"] == {
        "team": "sec", "env": "test"}
    client.tag_resource(ResourceArn=hub_arn, Tags={"env": "prod", "owner": "me"})
    assert client.list_tags_for_resource(ResourceArn=hub_arn)["Tags"] == {
        "team": "sec", "env": "prod", "owner": "me"}
    client.untag_resource(ResourceArn=hub_arn, TagKeys=["owner", "team", "absent"])
    assert client.list_tags_for_resource(ResourceArn=hub_arn)["Tags"] == {"env": "prod"}


def test_insight_tags_and_their_removal_with_the_insight(fhub: FamilyHub) -> None:  # noqa: F811
    client = fhub.client()
    arn = _insight(client)                  # its ARN holds slashes: /tags/{ResourceArn}
    assert client.list_tags_for_resource(ResourceArn=arn)["Tags"] == {}
    client.tag_resource(ResourceArn=arn, Tags={"a": "1", "b/c:d": ""})
    assert client.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"a": "1", "b/c:d": ""}
    client.untag_resource(ResourceArn=arn, TagKeys=["a"])
    assert client.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"b/c:d": ""}
    client.delete_insight(InsightArn=arn)
    with pytest.raises(ClientError) as err:
        client.list_tags_for_resource(ResourceArn=arn)
    assert _code(err) == "ResourceNotFoundException"
    with fhub.store._read() as conn:
        from sqlalchemy import func, select

        from secpipe.hub.schema import resource_tags
        left = conn.execute(select(func.count()).select_from(resource_tags)
                            .where(resource_tags.c.arn == arn)).scalar_one()
    assert left == 0


@pytest.mark.parametrize("arn", [
    "arn:aws:securityhub:us-east-1:000000000000:insight/000000000000/custom/nope",
    "arn:aws:securityhub:us-east-1:000000000000:automation-rule/nope",
    "arn:aws:securityhub:us-east-1:000000000000:hub/other",
    "arn:aws:securityhub:eu-west-1:000000000000:hub/default",
    "arn:aws:securityhub:us-east-1:000000000000:action/custom/Nope",
])
def test_unknown_arns_are_not_found(fhub: FamilyHub, hub_arn: str, arn: str) -> None:  # noqa: F811
    client = fhub.client()
    for call in (lambda: client.list_tags_for_resource(ResourceArn=arn),
                 lambda: client.tag_resource(ResourceArn=arn, Tags={"a": "b"}),
                 lambda: client.untag_resource(ResourceArn=arn, TagKeys=["a"])):
        with pytest.raises(ClientError) as err:
            call()
        assert _code(err) == "ResourceNotFoundException"


def test_validation_and_the_50_tag_limit(fhub: FamilyHub) -> None:  # noqa: F811
    client = fhub.client()
    arn = _insight(client)
    try:
        for bad in ({"aws:x": "v"}, {"sp ace": "v"}, {"k": "v\x00"}):
            with pytest.raises(ClientError) as err:
                client.tag_resource(ResourceArn=arn, Tags=bad)
            assert _code(err) == "InvalidInputException", bad
        # what botocore itself refuses before sending: the hub must refuse it too
        for bad in ({"": "v"}, {"k" * 129: "v"}, {"k": "v" * 257},
                    {f"k{n}": "v" for n in range(MAX_TAGS + 1)}, {}):
            status, headers, answer = signed_request(
                fhub, "POST", "/tags/" + quote(arn, safe=""), json.dumps({"Tags": bad}).encode())
            assert status == 400 and headers["x-amzn-errortype"].startswith(
                "InvalidInputException"), (bad, answer)
        client.tag_resource(ResourceArn=arn, Tags={f"k{n}": "v" for n in range(MAX_TAGS)})
        client.tag_resource(ResourceArn=arn, Tags={"k0": "overwritten"})   # still 50
        with pytest.raises(ClientError) as err:
            client.tag_resource(ResourceArn=arn, Tags={"one-more": "v"})
        assert _code(err) == "LimitExceededException"
        tags = client.list_tags_for_resource(ResourceArn=arn)["Tags"]
        assert len(tags) == MAX_TAGS and tags["k0"] == "overwritten"
        with pytest.raises(ClientError) as err:
            client.untag_resource(ResourceArn=arn, TagKeys=["aws:nope"])
        assert _code(err) == "InvalidInputException"
    finally:
        client.delete_insight(InsightArn=arn)


def test_automation_rules_are_a_registered_kind() -> None:
    # the rules' ARNs (arn:...:automation-rule/ID) resolve through the rules' table once it
    # exists; until then no rule exists and its ARN is not found (the test above)
    assert "automation-rule" in KINDS and "hub" in KINDS and "insight" in KINDS


def test_answers_fit_the_output_shapes(fhub: FamilyHub, hub_arn: str) -> None:  # noqa: F811
    from secpipe.hub.api.shapes import output_shape

    client = regional(fhub, TAG_REGION)
    rec = Recorder(client)
    client.tag_resource(ResourceArn=hub_arn, Tags={"shape": "1"})
    client.list_tags_for_resource(ResourceArn=hub_arn)
    client.untag_resource(ResourceArn=hub_arn, TagKeys=["shape"])
    assert set(rec.bodies) == {"TagResource", "ListTagsForResource", "UntagResource"}
    for op, bodies in rec.bodies.items():
        for body in bodies:
            assert shape_problems(json.loads(body or b"{}"), output_shape(op)) == [], op


def test_tagging_needs_admin(fhub: FamilyHub, hub_arn: str) -> None:  # noqa: F811
    key, secret = fhub.store.create_access_key("triager", role="triage")
    triage = regional(FamilyHub(fhub.url, fhub.store, key, secret), TAG_REGION)
    assert "env" in triage.list_tags_for_resource(ResourceArn=hub_arn)["Tags"]
    with pytest.raises(ClientError) as err:
        triage.tag_resource(ResourceArn=hub_arn, Tags={"x": "y"})
    assert _code(err) == "AccessDeniedException"
