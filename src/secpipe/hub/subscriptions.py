"""Which products an account imports findings from, per account and region: Security Hub's
product subscriptions (EnableImportFindingsForProduct, DisableImportFindingsForProduct,
ListEnabledProductsForImport), DescribeProducts over the registry, and the import check.

What is enabled where:
- the account's own products (`product/{account}/...`, the custom integration secpipe's
  pipeline imports under) always: Security Hub needs no subscription for them;
- products the registry marks `EnabledByDefault` (secpipe's tools, the AWS services, which
  Security Hub opts every account in to) until disabled;
- every other product (prowler, Trivy's Aqua product, any partner ARN, listed or not) once
  enabled. The registry cannot list all of Security Hub's partners, so an ARN it does not know
  may be enabled too; DescribeProducts lists only the registry's.

A finding of a product that is not enabled fails on its own. AWS answers such an import with
AccessDeniedException, "User: ... is not authorized to perform: securityhub:BatchImportFindings
on resource: arn:aws:securityhub:us-east-1::product/cloud-custodian/cloud-custodian"
(cloud-custodian/cloud-custodian#6091, prowler-cloud/prowler#872; aquasecurity/trivy-operator's
Security Hub webhook docs: without the Aqua integration enabled "all imports will fail with
AccessDeniedException"). IAM refuses the whole call there; the hub keeps the same code and
resource in a FailedFindings entry instead, as it does for a key's ProductArn scope
(`import_rules.screen`): one finding never fails the others of its batch.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

from sqlalchemy import and_, delete, insert, select
from sqlalchemy.engine import Connection

from secpipe.hub import audit, products
from secpipe.hub.authz import Principal
from secpipe.hub.common import decode_token, encode_token, now
from secpipe.hub.interface import InvalidInput, Partition, ResourceConflict, ResourceNotFound
from secpipe.hub.schema import product_subscriptions as S

DEFAULT_PAGE = 100


def _choices(conn: Connection, account: str, regions: Iterable[str]) -> dict[tuple[str, str], bool]:
    """{(region, company/product): enabled} of the account's explicit choices."""
    regions = sorted(set(regions))
    q = select(S.c.hub_region, S.c.product, S.c.enabled).where(
        and_(S.c.hub_account == account, S.c.hub_region.in_(regions)))
    return {(r, p): bool(e) for r, p, e in conn.execute(q)}


def _default(key: str) -> bool:
    product = products.registry().get(key)
    return product is not None and product.enabled_by_default


def is_enabled(choices: dict[tuple[str, str], bool], region: str,
               arn: products.ProductArn) -> bool:
    if arn.own:
        return True
    return choices.get((region, arn.key), _default(arn.key))


def screen(conn: Connection, good: list, account: str, region: str,
           principal: Principal | None = None) -> tuple[list, list[dict[str, str]]]:
    """Split checked findings (importer.Checked) into those whose product the account
    imports from and FailedFindings entries for the rest. A finding's subscription is the
    one in its ProductArn's region (Security Hub requires it to be the call's), else
    `region`."""
    # parsed once per product (a batch's findings share a few ARNs)
    parsed = {arn: products.parse(arn) for arn in {it.doc["ProductArn"] for it in good}}
    wanted = {p.region or region for p in parsed.values() if p is not None and not p.own}
    if not wanted:
        return good, []
    choices = _choices(conn, account, wanted)
    who = principal.name if principal is not None else "the local caller"
    kept, failed = [], []
    for it in good:
        arn = parsed[it.doc["ProductArn"]]
        where = (arn.region or region) if arn is not None else region
        if arn is None or is_enabled(choices, where, arn):
            kept.append(it)
            continue
        fid = it.doc.get("Id")
        failed.append({
            "Id": fid if isinstance(fid, str) else "", "ErrorCode": "AccessDenied",
            "ErrorMessage": f"{who} is not authorized to perform: securityhub:BatchImportFindings"
                            f" on resource: {it.doc['ProductArn']}: account {account} does not "
                            f"import findings from {arn.path} in {where} "
                            "(EnableImportFindingsForProduct)"})
    return kept, failed


def _page(items: Sequence[Any], max_results: int, token: str | None
          ) -> tuple[list[Any], str | None]:
    start = 0
    if token:
        start = decode_token(token).get("o")
        if not isinstance(start, int) or isinstance(start, bool) or start < 0:
            raise InvalidInput("NextToken is not valid")
    end = start + max_results
    return list(items[start:end]), (encode_token({"o": end}) if end < len(items) else None)


def describe(account: str, region: str, product_arn: str | None, max_results: int,
             token: str | None) -> tuple[list[dict[str, Any]], str | None]:
    """DescribeProducts: the registry as seen from `region` of `account`, optionally only
    the product `product_arn`."""
    found = [p.describe(account, region) for p in products.registry().values()]
    if product_arn is not None:
        found = [p for p in found if p["ProductArn"] == product_arn]
    return _page(found, max_results, token)


def enabled(conn: Connection, account: str, region: str) -> list[str]:
    """The subscription ARNs of every product the account imports from in `region`."""
    choices = _choices(conn, account, [region])
    paths = [f"{account}/default"]
    for key, product in products.registry().items():
        if not product.custom and choices.get((region, key), product.enabled_by_default):
            paths.append(key)
    paths += sorted(k for (_r, k), on in choices.items()
                    if on and k not in products.registry())
    return [products.subscription_arn(account, region, p) for p in paths]


def _parse_for(arn: Any, region: str) -> products.ProductArn:
    parsed = products.parse(arn)
    if parsed is None:
        raise InvalidInput(f"ProductArn {str(arn)[:300]!r} is not a Security Hub product ARN "
                           "(arn:aws:securityhub:REGION:ACCOUNT:product/COMPANY/PRODUCT)")
    if parsed.region and parsed.region != region:
        raise InvalidInput(f"ProductArn {arn} is a product of region {parsed.region}; this "
                           f"call is for {region}")
    return parsed


def enable(conn: Connection, account: str, region: str, arn: Any) -> str:
    """EnableImportFindingsForProduct: the subscription ARN; ResourceConflict when the
    account already imports from the product there."""
    parsed = _parse_for(arn, region)
    choices = _choices(conn, account, [region])
    if is_enabled(choices, region, parsed):
        raise ResourceConflict(f"Import of findings from {arn} is already enabled in {region}")
    conn.execute(delete(S).where(and_(S.c.hub_account == account, S.c.hub_region == region,
                                      S.c.product == parsed.key)))
    if not _default(parsed.key):       # else deleting the "disabled" choice was enough
        conn.execute(insert(S).values(hub_account=account, hub_region=region,
                                      product=parsed.key, product_arn=arn, enabled=True,
                                      updated_at=now()))
    return products.subscription_arn(account, region, parsed.path)


def disable(conn: Connection, account: str, region: str, subscription: str) -> str:
    """DisableImportFindingsForProduct by subscription ARN; ResourceNotFound unless the
    account imports from that product in that region. Returns the product's key."""
    parts = products.parse_subscription(subscription)
    if parts is None:
        raise InvalidInput(f"{subscription[:300]!r} is not a product subscription ARN")
    sub_region, sub_account, key = parts
    if (sub_region, sub_account) != (region, account):
        raise ResourceNotFound(f"Product subscription {subscription} not found")
    if key.split("/", 1)[0] == account:
        raise InvalidInput(f"{subscription} is the account's own custom integration: it needs "
                           "no subscription and cannot be disabled")
    if not _choices(conn, account, [region]).get((region, key), _default(key)):
        raise ResourceNotFound(f"Product subscription {subscription} not found")
    conn.execute(delete(S).where(and_(S.c.hub_account == account, S.c.hub_region == region,
                                      S.c.product == key)))
    if _default(key):
        conn.execute(insert(S).values(hub_account=account, hub_region=region, product=key,
                                      product_arn=products.registry()[key].arn(account, region),
                                      enabled=False, updated_at=now()))
    return key


class ProductSubscriptions:
    """The product operations of the hub store (a mixin of `SqlHubStore`, which supplies
    `_read`, `_write`, `account_id` and `region`). `partition` None is the store's own."""

    account_id: str
    region: str

    def _partition(self, partition: Partition | None) -> Partition:
        return partition or Partition(self.account_id, self.region)

    def describe_products(self, product_arn: str | None = None, max_results: int = DEFAULT_PAGE,
                          next_token: str | None = None, *,
                          partition: Partition | None = None
                          ) -> tuple[list[dict[str, Any]], str | None]:
        where = self._partition(partition)
        return describe(where.account, where.region, product_arn, max_results, next_token)

    def list_enabled_products_for_import(self, max_results: int = DEFAULT_PAGE,
                                         next_token: str | None = None, *,
                                         partition: Partition | None = None
                                         ) -> tuple[list[str], str | None]:
        where = self._partition(partition)
        with self._read() as conn:                        # type: ignore[attr-defined]
            arns = enabled(conn, where.account, where.region)
        return _page(arns, max_results, next_token)

    def enable_import_findings_for_product(self, product_arn: str, *,
                                           partition: Partition | None = None,
                                           principal: Principal | None = None) -> str:
        where = self._partition(partition)
        with self._write() as conn:                       # type: ignore[attr-defined]
            arn = enable(conn, where.account, where.region, product_arn)
            audit.record(conn, principal, "EnableImportFindingsForProduct", [arn],
                         detail={"ProductArn": product_arn})
        return arn

    def disable_import_findings_for_product(self, subscription_arn: str, *,
                                            partition: Partition | None = None,
                                            principal: Principal | None = None) -> None:
        where = self._partition(partition)
        with self._write() as conn:                       # type: ignore[attr-defined]
            disable(conn, where.account, where.region, subscription_arn)
            audit.record(conn, principal, "DisableImportFindingsForProduct",
                         [subscription_arn])
