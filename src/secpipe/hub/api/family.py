"""The routes of the rest of the findings family: history, UpdateFindings, action targets,
tags, GetFindingsV2 (Security Hub's URIs from botocore's model), and the native route that
invokes a custom action. `securityhub.routes()` includes them, so the operations list and
the README see them like every other Security Hub route."""

from __future__ import annotations

from starlette.routing import Route

from secpipe.hub.api import actions, findings_v2, history, tags
from secpipe.hub.api.endpoint import endpoint


def routes() -> list[Route]:
    def op(handler, operation: str):
        return endpoint(handler, operation=operation)

    return [
        Route("/findingHistory/get", op(history.get_finding_history, "GetFindingHistory"),
              methods=["POST"]),
        Route("/findings", op(history.update_findings, "UpdateFindings"), methods=["PATCH"]),
        Route("/findingsv2", op(findings_v2.get_findings_v2, "GetFindingsV2"),
              methods=["POST"]),
        Route("/actionTargets/get",
              op(actions.describe_action_targets, "DescribeActionTargets"), methods=["POST"]),
        Route("/actionTargets", op(actions.create_action_target, "CreateActionTarget"),
              methods=["POST"]),
        Route("/actionTargets/{arn:path}",
              op(actions.update_action_target, "UpdateActionTarget"), methods=["PATCH"]),
        Route("/actionTargets/{arn:path}",
              op(actions.delete_action_target, "DeleteActionTarget"), methods=["DELETE"]),
        Route("/tags/{arn:path}", op(tags.tag_resource, "TagResource"), methods=["POST"]),
        Route("/tags/{arn:path}", op(tags.untag_resource, "UntagResource"),
              methods=["DELETE"]),
        Route("/tags/{arn:path}", op(tags.list_tags_for_resource, "ListTagsForResource"),
              methods=["GET"]),
    ]


def native_routes() -> list[Route]:
    return [Route("/v1/action-targets/invoke",
                  endpoint(actions.invoke_action_target, operation="InvokeActionTarget",
                           bearer=True), methods=["POST"])]
