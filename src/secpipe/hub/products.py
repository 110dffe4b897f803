"""The product registry: the products the hub knows by ProductArn, as DescribeProducts shows
them and as findings of those products are named.

Security Hub, not the importer, names a registered product's findings: ProductName and
CompanyName are "populated automatically" for integrated products, and only a custom
integration (the account's own `product/{account}/default`) may set its own names on import
(AWS User Guide, "Integrating Security Hub CSPM with custom products"). Without the registry
the hub copied them from the ARN ("prowler" instead of "Prowler"), and prowler's archiving,
which filters on `ProductName EQUALS "Prowler"`, found nothing to archive.

The data (`data/products.json`) holds secpipe's own products (the account's custom product its
pipeline imports under, and one per tool it runs), the AWS services that send findings and
common third-party integrations, each with the source of its ARN and names. ARNs are templates
over `{partition}`, `{region}` and `{account}`, filled in per call. A product is identified by
the `company/product` path of its ARN (a partner's ARN also names the partner's account, which
does not identify anything more).

Pure: no database; `secpipe.hub.subscriptions` keeps which products an account imports from.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from secpipe.sinks._aws import partition_for_region

DATA = Path(__file__).with_name("data") / "products.json"
OWN = "{account}"                         # the company part of the account's own products
_ARN = re.compile(r"^arn:([a-z0-9-]+):securityhub:([a-z0-9-]*):(\d{0,12}):product/([^/\s]+)/([^/\s]+)$")
# the members of botocore's `Product` shape, in its order
SHAPE = ("ProductArn", "ProductName", "CompanyName", "Description", "Categories",
         "IntegrationTypes", "MarketplaceUrl", "ActivationUrl")


@dataclass(frozen=True)
class ProductArn:
    """A parsed Security Hub product ARN."""

    partition: str
    region: str
    account: str
    company: str
    product: str

    @property
    def own(self) -> bool:
        """The account's own product (`product/{account}/...`): a custom integration, which
        needs no subscription and keeps the importer's names."""
        return bool(self.account) and self.company == self.account

    @property
    def key(self) -> str:
        """The registry key: `company/product`, the account's own company as `{account}`."""
        return f"{OWN if self.own else self.company}/{self.product}"

    @property
    def path(self) -> str:
        return f"{self.company}/{self.product}"


def parse(arn: Any) -> ProductArn | None:
    """The parts of a Security Hub product ARN, or None when `arn` is not one."""
    return _parse(arn) if isinstance(arn, str) and len(arn) <= 256 else None


@lru_cache(maxsize=4096)
def _parse(arn: str) -> ProductArn | None:
    # cached: the import path asks once per finding, of a handful of distinct ARNs
    m = _ARN.match(arn)
    return ProductArn(*m.groups()) if m else None


@dataclass(frozen=True)
class Product:
    """One registry entry; `fields` holds its `Product` shape members with ARN templates."""

    key: str
    fields: dict[str, Any]
    custom: bool = False
    enabled_by_default: bool = False

    @property
    def names(self) -> dict[str, str]:
        """ProductName/CompanyName that findings of this product take (empty for a custom
        product, whose names are the importer's; a name without a source is left out)."""
        if self.custom:
            return {}
        return {k: self.fields[k] for k in ("ProductName", "CompanyName") if k in self.fields}

    def arn(self, account: str, region: str) -> str:
        return _fill(self.fields["ProductArn"], account, region)

    def describe(self, account: str, region: str) -> dict[str, Any]:
        """The product as DescribeProducts answers it in `region` of `account`."""
        out: dict[str, Any] = {}
        for key in SHAPE:
            if key in self.fields:
                value = self.fields[key]
                out[key] = _fill(value, account, region) if isinstance(value, str) else value
        return out


def _fill(template: str, account: str, region: str) -> str:
    return (template.replace("{partition}", partition_for_region(region))
            .replace("{region}", region).replace("{account}", account))


@lru_cache(maxsize=1)
def registry() -> dict[str, Product]:
    """Every registered product by key, in the data file's order."""
    data = json.loads(DATA.read_text(encoding="utf-8"))
    out: dict[str, Product] = {}
    for entry in data["Products"]:
        parsed = parse(_fill(entry["ProductArn"], "000000000000", "us-east-1"))
        if parsed is None:
            raise ValueError(f"{DATA}: not a product ARN template: {entry['ProductArn']}")
        key = parsed.key
        if key in out:
            raise ValueError(f"{DATA}: {key} is registered twice")
        out[key] = Product(key, {k: v for k, v in entry.items() if k in SHAPE},
                           custom=bool(entry.get("Custom")),
                           enabled_by_default=bool(entry.get("EnabledByDefault")))
    return out


def lookup(arn: Any) -> Product | None:
    """The registered product of a product ARN, or None."""
    parsed = parse(arn)
    return registry().get(parsed.key) if parsed else None


@lru_cache(maxsize=4096)
def registered_names(arn: str) -> dict[str, str]:
    """ProductName/CompanyName Security Hub gives findings of `arn` (empty when not
    registered or custom). Cached: the import path asks once per finding."""
    product = lookup(arn)
    return product.names if product else {}


def subscription_arn(account: str, region: str, path: str) -> str:
    """The ARN of an account's subscription to a product (`company/product`), in the form
    ListEnabledProductsForImport answers and prowler looks for."""
    return (f"arn:{partition_for_region(region)}:securityhub:{region}:{account}:"
            f"product-subscription/{path}")


_SUBSCRIPTION = re.compile(r"^arn:[a-z0-9-]+:securityhub:([a-z0-9-]+):(\d{12}):"
                           r"product-subscription/([^/\s]+/[^/\s]+)$")


def parse_subscription(arn: str) -> tuple[str, str, str] | None:
    """(region, account, company/product) of a product subscription ARN, or None."""
    m = _SUBSCRIPTION.match(arn)
    return (m.group(1), m.group(2), m.group(3)) if m else None
