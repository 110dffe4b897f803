"""Products: the registry, DescribeProducts, Enable/DisableImportFindingsForProduct and
ListEnabledProductsForImport with the unmodified boto3 client against the real server (SQLite
and PostgreSQL), every answer checked against botocore's output shape as sent; imports for a
product not enabled fail per finding; registered products name their findings.

The module's hub is shared by its tests, so each test works on products of its own.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from secpipe.hub import products
from secpipe.hub.authz import Scope
from secpipe.hub.interface import Partition
from secpipe.hub.store import open_store
from secpipe.scanners.registry import all_scanners
from tests.hub.test_api_shapes import Recorder, shape_problems
from tests.hub.test_api_support import REGION, Hub, hub, iso, make_finding  # noqa: F401

botocore = pytest.importorskip("botocore")
from botocore.exceptions import ClientError  # noqa: E402

ACCOUNT = "000000000000"
PROWLER = f"arn:aws:securityhub:{REGION}::product/prowler/prowler"
OWN_SUBSCRIPTION = (f"arn:aws:securityhub:{REGION}:{ACCOUNT}:"
                    f"product-subscription/{ACCOUNT}/default")


def sub_arn(path: str) -> str:
    return f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product-subscription/{path}"


def product_finding(arn: str, n: int, **extra: Any) -> dict[str, Any]:
    """A finding as prowler 5 sends it (no ProductName/CompanyName of its own)."""
    doc = {
        "SchemaVersion": "2018-10-08",
        "Id": f"prowler-s3_bucket_public_access-{ACCOUNT}-{REGION}-{arn[-12:]}-{n}",
        "ProductArn": arn,
        "ProductFields": {"ProviderName": "Prowler", "ProwlerResourceName": f"bucket-{n}"},
        "GeneratorId": "prowler-s3_bucket_public_access",
        "AwsAccountId": ACCOUNT,
        "Types": ["Software and Configuration Checks/AWS Security Best Practices"],
        "FirstObservedAt": iso(), "UpdatedAt": iso(), "CreatedAt": iso(),
        "Severity": {"Label": "HIGH"},
        "Title": "Ensure there are no S3 buckets open to Everyone or Any AWS user.",
        "Description": f"S3 Bucket bucket-{n} is public.",
        "Resources": [{"Type": "AwsS3Bucket", "Id": f"arn:aws:s3:::bucket-{n}",
                       "Partition": "aws", "Region": REGION}],
        "Compliance": {"Status": "FAILED"},
    }
    doc.update(extra)
    return doc


def code(err: pytest.ExceptionInfo) -> str:
    return err.value.response["Error"]["Code"]


def check_shapes(client: Any, seen: Recorder) -> None:
    model = client.meta.service_model
    for operation, bodies in seen.bodies.items():
        shape = model.operation_model(operation).output_shape
        for body in bodies:
            doc = json.loads(body) if body else {}
            if "Code" in doc and "Message" in doc:       # an error answer
                continue
            assert shape_problems(doc, shape) == [], (operation, doc)


# --- the registry ----------------------------------------------------------------------------
def test_every_registered_product_fits_the_product_shape_and_names_its_source() -> None:
    import botocore.session

    shape = botocore.session.get_session().get_service_model("securityhub").shape_for("Product")
    data = json.loads(products.DATA.read_text(encoding="utf-8"))["Products"]
    assert len(data) == len(products.registry()) > 30
    for entry in data:
        assert entry["Source"], entry["ProductArn"]
    for product in products.registry().values():
        for region in ("us-east-1", "cn-north-1"):
            described = product.describe("123456789012", region)
            assert shape_problems(described, shape) == [], described
            assert products.parse(described["ProductArn"]) is not None
            assert all(len(v) <= 128 for v in product.names.values())


def test_secpipe_has_a_product_per_tool_and_its_own_custom_product() -> None:
    keys = set(products.registry())
    assert {f"secpipe/{tool}" for tool in all_scanners()} <= keys
    own = products.lookup(f"arn:aws:securityhub:eu-west-1:{ACCOUNT}:product/{ACCOUNT}/default")
    assert own is not None and own.custom and own.names == {}
    assert products.lookup("arn:aws:securityhub:eu-west-1:123456789012:"
                           "product/123456789012/default") is own      # any account's own


@pytest.mark.parametrize("arn, names", [
    (PROWLER, {"ProductName": "Prowler", "CompanyName": "Prowler"}),
    ("arn:aws:securityhub:eu-west-3::product/prowler/prowler",
     {"ProductName": "Prowler", "CompanyName": "Prowler"}),
    ("arn:aws-cn:securityhub:cn-north-1::product/aws/guardduty",
     {"ProductName": "GuardDuty", "CompanyName": "Amazon"}),
    ("arn:aws:securityhub:us-east-1::product/aws/config",
     {"ProductName": "Config", "CompanyName": "AWS"}),
    ("arn:aws:securityhub:us-east-1::product/aws/securityhub",
     {"ProductName": "Security Hub", "CompanyName": "AWS"}),
    ("arn:aws:securityhub:us-east-1:517716713836:product/crowdstrike/crowdstrike-falcon",
     {"ProductName": "CrowdStrike Falcon", "CompanyName": "CrowdStrike"}),
    ("arn:aws:securityhub:us-east-1::product/aws/macie", {"ProductName": "Macie"}),
    (f"arn:aws:securityhub:us-east-1:{ACCOUNT}:product/{ACCOUNT}/default", {}),
    ("arn:aws:securityhub:us-east-1::product/nobody/unlisted", {}),
    ("not an arn", {}),
])
def test_registered_names(arn: str, names: dict[str, str]) -> None:
    assert products.registered_names(arn) == names


# --- the operations ----------------------------------------------------------------------------
def test_describe_products_pages_through_the_registry_and_filters_by_arn(hub: Hub) -> None:
    client = hub.client()
    seen = Recorder(client)
    everything = client.describe_products()["Products"]
    assert [p["ProductArn"] for p in everything] == [
        p.arn(ACCOUNT, REGION) for p in products.registry().values()]
    paged = [p for page in client.get_paginator("describe_products").paginate(
        PaginationConfig={"PageSize": 7}) for p in page["Products"]]
    assert paged == everything
    first = client.describe_products(MaxResults=7)
    assert len(first["Products"]) == 7 and first["NextToken"]
    rest = client.describe_products(MaxResults=100, NextToken=first["NextToken"])
    assert first["Products"] + rest["Products"] == everything and "NextToken" not in rest

    [prowler] = client.describe_products(ProductArn=PROWLER)["Products"]
    assert (prowler["ProductName"], prowler["CompanyName"]) == ("Prowler", "Prowler")
    assert prowler["IntegrationTypes"] == ["SEND_FINDINGS_TO_SECURITY_HUB"]
    assert prowler["Description"] and prowler["Categories"] and prowler["ActivationUrl"]
    own = f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default"
    assert client.describe_products(ProductArn=own)["Products"][0]["ProductName"] == "secpipe"
    assert client.describe_products(ProductArn=PROWLER + "x")["Products"] == []

    with pytest.raises(ClientError) as err:
        client.describe_products(MaxResults=101)
    assert code(err) == "InvalidInputException"
    with pytest.raises(ClientError) as err:
        client.describe_products(NextToken="not a token")
    assert code(err) == "InvalidInputException"
    check_shapes(client, seen)


def test_list_enabled_products_for_import_pages_and_starts_with_the_defaults(hub: Hub) -> None:
    client = hub.client()
    seen = Recorder(client)
    listed = [a for page in client.get_paginator("list_enabled_products_for_import").paginate(
        PaginationConfig={"PageSize": 4}) for a in page["ProductSubscriptions"]]
    assert listed == client.list_enabled_products_for_import()["ProductSubscriptions"]
    assert len(listed) == len(set(listed))
    assert OWN_SUBSCRIPTION in listed
    assert {sub_arn(f"secpipe/{tool}") for tool in all_scanners()} <= set(listed)
    assert {sub_arn("aws/guardduty"), sub_arn("aws/inspector"),
            sub_arn("aws/securityhub")} <= set(listed)
    assert sub_arn("snyk/snyk") not in listed           # partners: once enabled
    page = client.list_enabled_products_for_import(MaxResults=3)
    assert page["ProductSubscriptions"] == listed[:3] and page["NextToken"]
    with pytest.raises(ClientError) as err:
        client.list_enabled_products_for_import(MaxResults=500)
    assert code(err) == "InvalidInputException"
    check_shapes(client, seen)


def test_enable_and_disable_a_partner_product(hub: Hub) -> None:
    client = hub.client()
    seen = Recorder(client)
    arn = f"arn:aws:securityhub:{REGION}::product/cloud-custodian/cloud-custodian"
    sub = client.enable_import_findings_for_product(ProductArn=arn)["ProductSubscriptionArn"]
    assert sub == sub_arn("cloud-custodian/cloud-custodian")
    assert sub in client.list_enabled_products_for_import()["ProductSubscriptions"]
    with pytest.raises(ClientError) as err:
        client.enable_import_findings_for_product(ProductArn=arn)
    assert code(err) == "ResourceConflictException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409

    client.disable_import_findings_for_product(ProductSubscriptionArn=sub)
    assert sub not in client.list_enabled_products_for_import()["ProductSubscriptions"]
    with pytest.raises(ClientError) as err:
        client.disable_import_findings_for_product(ProductSubscriptionArn=sub)
    assert code(err) == "ResourceNotFoundException"
    # another account's or region's subscription is not this account's
    for other in (sub.replace(ACCOUNT, "111122223333"), sub.replace(REGION, "eu-west-1")):
        with pytest.raises(ClientError) as err:
            client.disable_import_findings_for_product(ProductSubscriptionArn=other)
        assert code(err) == "ResourceNotFoundException"
    # enabling again works after a disable
    assert client.enable_import_findings_for_product(ProductArn=arn)[
        "ProductSubscriptionArn"] == sub
    # both are in the audit trail, with the caller
    trail = [(e["action"], e["principal"]) for e in hub.store.audit_log()
             if e["action"].endswith("ImportFindingsForProduct") and sub in e["targets"]]
    assert trail[:3] == [("EnableImportFindingsForProduct", hub.key_id),
                         ("DisableImportFindingsForProduct", hub.key_id),
                         ("EnableImportFindingsForProduct", hub.key_id)][::-1]
    check_shapes(client, seen)


def test_enable_refuses_what_is_not_a_product_of_this_region(hub: Hub) -> None:
    client = hub.client()
    for bad in ("prowler/prowler", "arn:aws:securityhub:us-east-1::insight/x/y",
                "arn:aws:securityhub:eu-west-1::product/prowler/prowler"):
        with pytest.raises(ClientError) as err:
            client.enable_import_findings_for_product(ProductArn=bad)
        assert code(err) == "InvalidInputException", bad
    own = f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default"
    with pytest.raises(ClientError) as err:        # always enabled
        client.enable_import_findings_for_product(ProductArn=own)
    assert code(err) == "ResourceConflictException"
    with pytest.raises(ClientError) as err:        # and not a subscription one can cancel
        client.disable_import_findings_for_product(ProductSubscriptionArn=OWN_SUBSCRIPTION)
    assert code(err) == "InvalidInputException"
    with pytest.raises(ClientError) as err:
        client.disable_import_findings_for_product(ProductSubscriptionArn="arn:aws:nothing")
    assert code(err) == "InvalidInputException"


def test_an_unlisted_partner_arn_can_be_enabled(hub: Hub) -> None:
    client = hub.client()
    arn = f"arn:aws:securityhub:{REGION}:123456789012:product/somevendor/some-product"
    sub = client.enable_import_findings_for_product(ProductArn=arn)["ProductSubscriptionArn"]
    assert sub == sub_arn("somevendor/some-product")
    assert sub in client.list_enabled_products_for_import()["ProductSubscriptions"]
    assert client.describe_products(ProductArn=arn)["Products"] == []
    doc = product_finding(arn, 1)
    assert client.batch_import_findings(Findings=[doc])["SuccessCount"] == 1
    [stored] = client.get_findings(Filters={"Id": [{"Value": doc["Id"],
                                                    "Comparison": "EQUALS"}]})["Findings"]
    assert (stored["ProductName"], stored["CompanyName"]) == ("some-product", "somevendor")


def test_subscriptions_are_per_region_of_the_signed_request(hub: Hub) -> None:
    import boto3

    west = boto3.client("securityhub", endpoint_url=hub.url, region_name="eu-west-2",
                        aws_access_key_id=hub.key_id, aws_secret_access_key=hub.secret)
    arn = "arn:aws:securityhub:eu-west-2::product/crowdstrike/crowdstrike-falcon"
    with pytest.raises(ClientError) as err:          # a us-east-1 call for a eu-west-2 product
        hub.client().enable_import_findings_for_product(ProductArn=arn)
    assert code(err) == "InvalidInputException"
    sub = west.enable_import_findings_for_product(ProductArn=arn)["ProductSubscriptionArn"]
    assert sub == (f"arn:aws:securityhub:eu-west-2:{ACCOUNT}:"
                   "product-subscription/crowdstrike/crowdstrike-falcon")
    assert sub in west.list_enabled_products_for_import()["ProductSubscriptions"]
    assert not any("crowdstrike" in a for a in
                   hub.client().list_enabled_products_for_import()["ProductSubscriptions"])
    [described] = west.describe_products(ProductArn=arn.replace("::", ":517716713836:"))[
        "Products"]
    assert described["ProductName"] == "CrowdStrike Falcon"
    # the finding's ProductArn region picks the subscription
    here = product_finding(arn.replace("eu-west-2", REGION).replace("::", ":517716713836:"), 1)
    there = product_finding(arn.replace("::", ":517716713836:"), 2)
    answer = hub.client().batch_import_findings(Findings=[here, there])
    assert [f["Id"] for f in answer["FailedFindings"]] == [here["Id"]]
    west.disable_import_findings_for_product(ProductSubscriptionArn=sub)


# --- imports -----------------------------------------------------------------------------------
def test_import_for_a_product_not_enabled_fails_per_finding(hub: Hub) -> None:
    client = hub.client()
    prowler = [product_finding(PROWLER, n) for n in range(2)]
    own = make_finding("products-import", 1)
    answer = client.batch_import_findings(Findings=[prowler[0], own, prowler[1]])
    assert answer["SuccessCount"] == 1 and answer["FailedCount"] == 2
    for failed, sent in zip(answer["FailedFindings"], prowler):
        assert failed["Id"] == sent["Id"] and failed["ErrorCode"] == "AccessDenied"
        assert ("not authorized to perform: securityhub:BatchImportFindings on resource: "
                f"{PROWLER}") in failed["ErrorMessage"]
        assert "EnableImportFindingsForProduct" in failed["ErrorMessage"]
    ids = {f["Id"] for f in client.get_findings(Filters={"ProductArn": [
        {"Value": PROWLER, "Comparison": "EQUALS"}]})["Findings"]}
    assert ids == set()

    # enabled: prowler's findings arrive, named as Security Hub names prowler's product
    client.enable_import_findings_for_product(ProductArn=PROWLER)
    assert sub_arn("prowler/prowler") in str(client.list_enabled_products_for_import())
    named = {**prowler[1], "ProductName": "prowler", "CompanyName": "someone"}
    answer = client.batch_import_findings(Findings=[prowler[0], named])
    assert answer["SuccessCount"] == 2, answer["FailedFindings"]
    # prowler's own archiving query finds them
    found = client.get_findings(Filters={
        "ProductName": [{"Value": "Prowler", "Comparison": "EQUALS"}],
        "RecordState": [{"Value": "ACTIVE", "Comparison": "EQUALS"}],
        "AwsAccountId": [{"Value": ACCOUNT, "Comparison": "EQUALS"}],
        "Region": [{"Value": REGION, "Comparison": "EQUALS"}]})["Findings"]
    assert {f["Id"] for f in found} == {d["Id"] for d in prowler}
    assert {(f["ProductName"], f["CompanyName"]) for f in found} == {("Prowler", "Prowler")}
    # the custom product keeps the importer's names
    [mine] = client.get_findings(Filters={"Id": [{"Value": own["Id"],
                                                  "Comparison": "EQUALS"}]})["Findings"]
    assert (mine["ProductName"], mine["CompanyName"]) == ("secpipe", "secpipe")

    # disabled again: the next import of the same finding is refused, the stored one stays
    client.disable_import_findings_for_product(ProductSubscriptionArn=sub_arn("prowler/prowler"))
    again = client.batch_import_findings(Findings=[{**prowler[0], "UpdatedAt": iso()}])
    assert again["FailedCount"] == 1 and again["FailedFindings"][0]["ErrorCode"] == "AccessDenied"


def test_a_default_aws_product_can_be_disabled_and_enabled_again(hub: Hub) -> None:
    client = hub.client()
    arn = f"arn:aws:securityhub:{REGION}::product/aws/health"
    doc = product_finding(arn, 7, GeneratorId="AWS_SES_CMF_PENDING_TO_SUCCESS")
    assert client.batch_import_findings(Findings=[doc])["SuccessCount"] == 1
    [stored] = client.get_findings(Filters={"Id": [{"Value": doc["Id"],
                                                    "Comparison": "EQUALS"}]})["Findings"]
    assert (stored["ProductName"], stored["CompanyName"]) == ("Health", "AWS")
    with pytest.raises(ClientError) as err:
        client.enable_import_findings_for_product(ProductArn=arn)
    assert code(err) == "ResourceConflictException"

    client.disable_import_findings_for_product(ProductSubscriptionArn=sub_arn("aws/health"))
    assert sub_arn("aws/health") not in client.list_enabled_products_for_import()[
        "ProductSubscriptions"]
    refused = client.batch_import_findings(Findings=[{**doc, "UpdatedAt": iso()}])
    assert refused["FailedCount"] == 1
    assert client.enable_import_findings_for_product(ProductArn=arn)[
        "ProductSubscriptionArn"] == sub_arn("aws/health")
    assert client.batch_import_findings(Findings=[{**doc, "UpdatedAt": iso()}])[
        "SuccessCount"] == 1


def test_product_operations_need_their_permissions_and_scopes_still_apply(hub: Hub) -> None:
    key, secret = hub.store.create_access_key("products read", role="read")
    read = hub.client(key_id=key, secret=secret)
    assert read.describe_products(MaxResults=1)["Products"]
    assert read.list_enabled_products_for_import(MaxResults=1)["ProductSubscriptions"]
    arn = f"arn:aws:securityhub:{REGION}::product/aqua-security/kube-bench"
    with pytest.raises(ClientError) as err:
        read.enable_import_findings_for_product(ProductArn=arn)
    assert code(err) == "AccessDeniedException"
    with pytest.raises(ClientError) as err:
        read.disable_import_findings_for_product(ProductSubscriptionArn=sub_arn("aws/macie"))
    assert code(err) == "AccessDeniedException"

    # a ci key scoped to its own ProductArn may not import under an enabled partner product
    own = f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default"
    key, secret = hub.store.create_access_key("products ci", role="ci",
                                              scope=Scope.of(product_arns=[own]))
    hub.client().enable_import_findings_for_product(ProductArn=arn)
    ci = hub.client(key_id=key, secret=secret)
    answer = ci.batch_import_findings(Findings=[product_finding(arn, 3)])
    assert answer["FailedCount"] == 1
    assert "may not import under ProductArn" in answer["FailedFindings"][0]["ErrorMessage"]


# --- the store, for the pipeline's own paths ---------------------------------------------------
def test_runs_and_bulk_imports_honour_subscriptions_per_account_and_region(tmp_path) -> None:
    from secpipe.hub.interface import RunRecord

    store = open_store(tmp_path / "hub.db")
    try:
        here = product_finding(PROWLER, 1)
        west = product_finding("arn:aws:securityhub:eu-west-1::product/prowler/prowler", 2,
                               Resources=[{"Type": "AwsS3Bucket", "Id": "arn:aws:s3:::w",
                                           "Region": "eu-west-1"}])
        result = store.bulk_import([here, west])
        assert result.success_count == 0 and len(result.failed) == 2
        store.enable_import_findings_for_product(PROWLER)
        store.enable_import_findings_for_product(
            west["ProductArn"], partition=Partition(ACCOUNT, "eu-west-1"))
        # another account's subscription does not count for the hub's account
        store.enable_import_findings_for_product(
            PROWLER.replace(REGION, "eu-west-3"), partition=Partition("111122223333",
                                                                      "eu-west-3"))
        third = product_finding(PROWLER.replace(REGION, "eu-west-3"), 3)
        run = RunRecord(run_id="r1", repo="acme/x", branch="main", commit="c", started_at=iso(),
                        finished_at=iso(), status="passed", exit_code=0, summary={})
        diff = store.record_run(run, [here, west, third])
        assert [f["Id"] for f in diff.failed] == [third["Id"]]
        assert store.count_findings() == 2
        assert store.list_enabled_products_for_import(
            partition=Partition("111122223333", "eu-west-3"))[0][-1].endswith(
                "111122223333:product-subscription/prowler/prowler")
    finally:
        store.close()
