"""Security Hub's automation-rule operations over the store (URIs from botocore's model).

Each handler checks the request's structure, then hands the call's partition (account and
region) and caller to the store, which checks the values, writes and audits.
"""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from secpipe.hub.api.endpoint import Call, endpoint
from secpipe.hub.api.shapes import conforms
from secpipe.hub.api.validate import bounded_list, member, paged, query_page
from secpipe.hub.interface import InvalidInput

MAX_BATCH = 100


def _arns(call: Call) -> list[str]:
    arns = bounded_list(call.body, "AutomationRulesArns", 1, MAX_BATCH, required=True) or []
    if not all(isinstance(a, str) and a.strip() for a in arns):
        raise InvalidInput("AutomationRulesArns must be a list of rule ARNs")
    return arns


@conforms("CreateAutomationRule")
async def create_automation_rule(call: Call) -> dict[str, Any]:
    body = call.body
    member(body, "RuleOrder", int, required=True)
    member(body, "RuleName", str, required=True)
    member(body, "Description", str, required=True)
    member(body, "Criteria", dict, required=True)
    bounded_list(body, "Actions", 1, 1, required=True)
    arn = await call.run(call.store.create_automation_rule, body, partition=call.partition,
                         principal=call.caller)
    return {"RuleArn": arn}


@conforms("BatchGetAutomationRules")
async def batch_get_automation_rules(call: Call) -> dict[str, Any]:
    found, missing = await call.run(call.store.batch_get_automation_rules, _arns(call),
                                    partition=call.partition)
    out: dict[str, Any] = {"Rules": found}
    if missing:
        out["UnprocessedAutomationRules"] = missing
    return out


@conforms("BatchUpdateAutomationRules")
async def batch_update_automation_rules(call: Call) -> dict[str, Any]:
    items = bounded_list(call.body, "UpdateAutomationRulesRequestItems", 1, MAX_BATCH,
                         required=True) or []
    done, missing = await call.run(call.store.batch_update_automation_rules, items,
                                   partition=call.partition, principal=call.caller)
    out: dict[str, Any] = {"ProcessedAutomationRules": done}
    if missing:
        out["UnprocessedAutomationRules"] = missing
    return out


@conforms("BatchDeleteAutomationRules")
async def batch_delete_automation_rules(call: Call) -> dict[str, Any]:
    done, missing = await call.run(call.store.batch_delete_automation_rules, _arns(call),
                                   partition=call.partition, principal=call.caller)
    out: dict[str, Any] = {"ProcessedAutomationRules": done}
    if missing:
        out["UnprocessedAutomationRules"] = missing
    return out


@conforms("ListAutomationRules")
async def list_automation_rules(call: Call) -> dict[str, Any]:
    limit, token = query_page(call.request.query_params)
    found, token = await call.run(call.store.list_automation_rules, limit, token,
                                  partition=call.partition)
    return paged("AutomationRulesMetadata", found, token)


def routes() -> list[Route]:
    def op(handler, operation: str):
        return endpoint(handler, operation=operation)

    return [
        Route("/automationrules/create", op(create_automation_rule, "CreateAutomationRule"),
              methods=["POST"]),
        Route("/automationrules/get",
              op(batch_get_automation_rules, "BatchGetAutomationRules"), methods=["POST"]),
        Route("/automationrules/update",
              op(batch_update_automation_rules, "BatchUpdateAutomationRules"),
              methods=["PATCH"]),
        Route("/automationrules/delete",
              op(batch_delete_automation_rules, "BatchDeleteAutomationRules"),
              methods=["POST"]),
        Route("/automationrules/list", op(list_automation_rules, "ListAutomationRules"),
              methods=["GET"]),
    ]
