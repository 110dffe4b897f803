"""Security Hub's REST-JSON operations (URIs and member names from botocore's service model,
securityhub 2018-10-26), each a thin translation onto the HubStore seam.

Every call addresses its partition (`call.partition`: the hub's account, the SigV4 region);
reads also name the caller, whose scope may narrow them to member accounts."""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from secpipe.hub.api import family, subscribed
from secpipe.hub.api.endpoint import Call, endpoint
from secpipe.hub.api.shapes import conforms
from secpipe.hub.api.validate import (MAX_IMPORT, arn_list, bounded_list, filters,
                                      identifiers, max_results, member, next_token, paged,
                                      sort_criteria, tags, update_changes)
from secpipe.hub.interface import InvalidInput, ResourceNotFound


@conforms("BatchImportFindings")
async def batch_import_findings(call: Call) -> dict[str, Any]:
    """BatchImportFindings: more than 100 findings fails the call; one bad finding only
    fails itself (it lands in FailedFindings)."""
    items = bounded_list(call.body, "Findings", 1, MAX_IMPORT, required=True) or []
    good = [f for f in items if isinstance(f, dict)]
    failed = [{"Id": f"Findings[{i}]", "ErrorCode": "InvalidInput",
               "ErrorMessage": f"A finding must be a JSON object, not {type(f).__name__}"}
              for i, f in enumerate(items) if not isinstance(f, dict)]
    success = 0
    if good:
        # the 6 MB limit is on the request as received (read_body already bounded it), so
        # the store need not serialise the findings again to measure them
        result = await call.run(call.store.batch_import, good, principal=call.caller,
                                partition=call.partition,
                                request_bytes=getattr(call.request.state, "body_bytes", None))
        success = result.success_count
        failed.extend(result.failed)
    return {"FailedCount": len(failed), "SuccessCount": success, "FailedFindings": failed}


@conforms("GetFindings")
async def get_findings(call: Call) -> dict[str, Any]:
    body = call.body
    found, token = await call.run(call.store.get_findings, filters(body), sort_criteria(body),
                                  max_results(body), next_token(body),
                                  partition=call.partition, principal=call.caller)
    return paged("Findings", found, token)


@conforms("BatchUpdateFindings")
async def batch_update_findings(call: Call) -> dict[str, Any]:
    """BatchUpdateFindings: the workflow/note/severity changes of triage; import can never
    make them, this is the only way in."""
    ids = identifiers(call.body)
    changes = update_changes(call.body)
    if not changes:
        raise InvalidInput("BatchUpdateFindings needs at least one of: "
                           "Note, Severity, VerificationState, Confidence, Criticality, Types, "
                           "UserDefinedFields, Workflow, RelatedFindings")
    # the history's actor is the caller; Note.UpdatedBy is the caller's data, kept as such
    result = await call.run(call.store.batch_update, ids, changes, updated_by=call.caller.name,
                            principal=call.caller, partition=call.partition)
    return {"ProcessedFindings": result.processed, "UnprocessedFindings": result.unprocessed}


@conforms("CreateInsight")
async def create_insight(call: Call) -> dict[str, Any]:
    name = member(call.body, "Name", str, required=True)
    where = filters(call.body, required=True)
    group_by = member(call.body, "GroupByAttribute", str, required=True)
    arn = await call.run(call.store.create_insight, name, where, group_by,
                         principal=call.caller, partition=call.partition)
    return {"InsightArn": arn}


@conforms("GetInsights")
async def get_insights(call: Call) -> dict[str, Any]:
    found, token = await call.run(call.store.get_insights, arn_list(call.body, "InsightArns"),
                                  max_results(call.body), next_token(call.body),
                                  partition=call.partition)
    return paged("Insights", found, token)


def _arn(call: Call) -> str:
    arn = call.path("arn").strip("/")
    if not arn:
        raise InvalidInput("Missing required parameter InsightArn")
    return arn


@conforms("GetInsightResults")
async def get_insight_results(call: Call) -> dict[str, Any]:
    results = await call.run(call.store.get_insight_results, _arn(call),
                             partition=call.partition, principal=call.caller)
    if "InsightResults" in results:
        return results
    return {"InsightResults": results}


@conforms("UpdateInsight")
async def update_insight(call: Call) -> dict[str, Any]:
    arn = _arn(call)
    name = member(call.body, "Name", str)
    group_by = member(call.body, "GroupByAttribute", str)
    if name == "" or group_by == "":
        raise InvalidInput("Name and GroupByAttribute must not be empty")
    await call.run(call.store.update_insight, arn, name=name, filters=filters(call.body),
                   group_by=group_by, principal=call.caller, partition=call.partition)
    return {}


@conforms("DeleteInsight")
async def delete_insight(call: Call) -> dict[str, Any]:
    arn = await call.run(call.store.delete_insight, _arn(call), principal=call.caller,
                         partition=call.partition)
    return {"InsightArn": arn or _arn(call)}


@conforms("EnableSecurityHub")
async def enable_security_hub(call: Call) -> dict[str, Any]:
    member(call.body, "EnableDefaultStandards", bool)
    member(call.body, "ControlFindingGenerator", str)
    try:
        await call.run(call.store.enable_hub, tags(call.body), principal=call.caller,
                       partition=call.partition)
    finally:
        subscribed.changed(call.request, call.partition)
    return {}


@conforms("DisableSecurityHub")
async def disable_security_hub(call: Call) -> dict[str, Any]:
    """DisableSecurityHub: data calls in this account and region answer InvalidAccess
    until EnableSecurityHub; the findings stay stored."""
    try:
        await call.run(call.store.disable_hub, principal=call.caller, partition=call.partition)
    finally:
        subscribed.changed(call.request, call.partition)
    return {}


@conforms("DescribeHub")
async def describe_hub(call: Call) -> dict[str, Any]:
    wanted = call.request.query_params.get("HubArn")
    hub = await call.run(call.store.describe_hub, partition=call.partition)
    if wanted and wanted != hub.get("HubArn"):
        raise ResourceNotFound(f"Hub {wanted} not found")
    return hub


def routes() -> list[Route]:
    def op(handler, operation: str):
        return endpoint(handler, operation=operation)

    return [
        Route("/findings/import", op(batch_import_findings, "BatchImportFindings"),
              methods=["POST"]),
        Route("/findings/batchupdate", op(batch_update_findings, "BatchUpdateFindings"),
              methods=["PATCH"]),
        Route("/findings", op(get_findings, "GetFindings"), methods=["POST"]),
        Route("/insights/get", op(get_insights, "GetInsights"), methods=["POST"]),
        Route("/insights/results/{arn:path}", op(get_insight_results, "GetInsightResults"),
              methods=["GET"]),
        Route("/insights", op(create_insight, "CreateInsight"), methods=["POST"]),
        Route("/insights/{arn:path}", op(update_insight, "UpdateInsight"), methods=["PATCH"]),
        Route("/insights/{arn:path}", op(delete_insight, "DeleteInsight"), methods=["DELETE"]),
        Route("/accounts", op(enable_security_hub, "EnableSecurityHub"), methods=["POST"]),
        Route("/accounts", op(describe_hub, "DescribeHub"), methods=["GET"]),
        Route("/accounts", op(disable_security_hub, "DisableSecurityHub"), methods=["DELETE"]),
        *family.routes(),     # history, UpdateFindings, action targets, tags, GetFindingsV2
    ]
