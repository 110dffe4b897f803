"""Action targets (custom actions): Security Hub's CRUD, plus the native route that invokes
one on findings (what the console's "Actions" menu does; see `secpipe.hub.custom_action`)."""

from __future__ import annotations

from typing import Any

from secpipe.hub import custom_action
from secpipe.hub.api.endpoint import Call
from secpipe.hub.api.shapes import conforms
from secpipe.hub.api.validate import (arn_list, bounded_list, max_results, member, next_token,
                                      paged)
from secpipe.hub.interface import InvalidInput


def _arn(call: Call) -> str:
    arn = call.path("arn").strip("/")
    if not arn:
        raise InvalidInput("Missing required parameter ActionTargetArn")
    return arn


@conforms("CreateActionTarget")
async def create_action_target(call: Call) -> dict[str, Any]:
    body = call.body
    arn = await call.run(call.store.create_action_target,
                         member(body, "Name", str, required=True),
                         member(body, "Description", str, required=True),
                         member(body, "Id", str, required=True),
                         partition=call.partition, principal=call.caller)
    return {"ActionTargetArn": arn}


@conforms("DescribeActionTargets")
async def describe_action_targets(call: Call) -> dict[str, Any]:
    found, token = await call.run(call.store.describe_action_targets,
                                  arn_list(call.body, "ActionTargetArns"),
                                  max_results(call.body), next_token(call.body),
                                  partition=call.partition)
    return paged("ActionTargets", found, token)


@conforms("UpdateActionTarget")
async def update_action_target(call: Call) -> dict[str, Any]:
    await call.run(call.store.update_action_target, _arn(call),
                   name=member(call.body, "Name", str),
                   description=member(call.body, "Description", str),
                   partition=call.partition, principal=call.caller)
    return {}


@conforms("DeleteActionTarget")
async def delete_action_target(call: Call) -> dict[str, Any]:
    arn = await call.run(call.store.delete_action_target, _arn(call),
                         partition=call.partition, principal=call.caller)
    return {"ActionTargetArn": arn}


async def invoke_action_target(call: Call) -> dict[str, Any]:
    """POST /v1/action-targets/invoke {ActionTargetArn, FindingIdentifiers}: send the
    findings to the action's notification channel. Answers the delivery per channel; a
    delivery that failed everywhere is `Status: failed` (and audited as such)."""
    arn = member(call.body, "ActionTargetArn", str, required=True)
    idents = bounded_list(call.body, "FindingIdentifiers", 1, 100, required=True) or []
    if not all(isinstance(i, dict) for i in idents):
        raise InvalidInput("FindingIdentifiers must be {Id, ProductArn} objects")
    sender = custom_action.sender_of(call.request.app)
    return await call.run(call.store.invoke_action_target, arn, idents, sender,
                          partition=call.partition, principal=call.caller)
