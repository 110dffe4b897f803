"""Security Hub's product operations: DescribeProducts, EnableImportFindingsForProduct,
DisableImportFindingsForProduct, ListEnabledProductsForImport (URIs and members from botocore's
model). Subscriptions belong to the call's account and region (`Call.partition`); the store
does the rest (`secpipe.hub.subscriptions`)."""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from secpipe.hub.api.endpoint import Call, endpoint
from secpipe.hub.api.shapes import conforms
from secpipe.hub.api.validate import member, paged, query_page
from secpipe.hub.interface import InvalidInput

MAX_PAGE = 100        # MaxResults: 1-100 in botocore's model




@conforms("DescribeProducts")
async def describe_products(call: Call) -> dict[str, Any]:
    size, token = query_page(call.request.query_params, MAX_PAGE)
    arn = call.request.query_params.get("ProductArn")
    if arn is not None and not arn.strip():
        raise InvalidInput("ProductArn must not be empty")
    found, nxt = await call.run(call.store.describe_products, arn, size, token,
                                partition=call.partition)
    return paged("Products", found, nxt)


@conforms("ListEnabledProductsForImport")
async def list_enabled_products_for_import(call: Call) -> dict[str, Any]:
    size, token = query_page(call.request.query_params, MAX_PAGE)
    arns, nxt = await call.run(call.store.list_enabled_products_for_import, size, token,
                               partition=call.partition)
    return paged("ProductSubscriptions", arns, nxt)


@conforms("EnableImportFindingsForProduct")
async def enable_import_findings_for_product(call: Call) -> dict[str, Any]:
    arn = member(call.body, "ProductArn", str, required=True)
    sub = await call.run(call.store.enable_import_findings_for_product, arn,
                         partition=call.partition, principal=call.caller)
    return {"ProductSubscriptionArn": sub}


@conforms("DisableImportFindingsForProduct")
async def disable_import_findings_for_product(call: Call) -> dict[str, Any]:
    arn = call.path("arn").strip("/")
    if not arn:
        raise InvalidInput("Missing required parameter ProductSubscriptionArn")
    await call.run(call.store.disable_import_findings_for_product, arn,
                   partition=call.partition, principal=call.caller)
    return {}


def routes() -> list[Route]:
    def op(handler, operation: str):
        return endpoint(handler, operation=operation)

    return [
        Route("/products", op(describe_products, "DescribeProducts"), methods=["GET"]),
        Route("/productSubscriptions",
              op(list_enabled_products_for_import, "ListEnabledProductsForImport"),
              methods=["GET"]),
        Route("/productSubscriptions",
              op(enable_import_findings_for_product, "EnableImportFindingsForProduct"),
              methods=["POST"]),
        Route("/productSubscriptions/{arn:path}",
              op(disable_import_findings_for_product, "DisableImportFindingsForProduct"),
              methods=["DELETE"]),
    ]
