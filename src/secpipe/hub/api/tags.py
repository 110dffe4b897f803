"""TagResource, UntagResource, ListTagsForResource.

The ARN travels in the path (`/tags/{ResourceArn}`; botocore percent-encodes its slashes,
the route takes the decoded rest of the path). A resource of another account or region than
the call's is ResourceNotFound, as Security Hub answers it.
"""

from __future__ import annotations

from typing import Any

from secpipe.hub.api.endpoint import Call
from secpipe.hub.api.shapes import conforms
from secpipe.hub.api.validate import member
from secpipe.hub.interface import InvalidInput, ResourceNotFound


def _arn(call: Call) -> str:
    arn = call.path("arn").strip("/")
    if not arn:
        raise InvalidInput("Missing required parameter ResourceArn")
    part = call.partition
    pieces = arn.split(":", 5)
    if len(pieces) == 6 and pieces[:3] == ["arn", "aws", "securityhub"] \
            and (pieces[3], pieces[4]) != (part.region, part.account):
        raise ResourceNotFound(f"Resource {arn} not found in account {part.account}, "
                               f"Region {part.region}")
    return arn


@conforms("TagResource")
async def tag_resource(call: Call) -> dict[str, Any]:
    new = member(call.body, "Tags", dict, required=True)
    await call.run(call.store.tag_resource, _arn(call), new, principal=call.caller)
    return {}


@conforms("UntagResource")
async def untag_resource(call: Call) -> dict[str, Any]:
    keys = call.request.query_params.getlist("tagKeys")
    if not keys:
        raise InvalidInput("Missing required parameter TagKeys")
    await call.run(call.store.untag_resource, _arn(call), keys, principal=call.caller)
    return {}


@conforms("ListTagsForResource")
async def list_tags_for_resource(call: Call) -> dict[str, Any]:
    return {"Tags": await call.run(call.store.list_tags, _arn(call))}
