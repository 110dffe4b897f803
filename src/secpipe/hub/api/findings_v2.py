"""GetFindingsV2: OCSF filters and OCSF findings over the same store (`hub.findings_v2`).

Not cut by `conforms`: its findings are OCSF documents (the model's `OcsfFinding` is a
document type, free-form by design)."""

from __future__ import annotations

from typing import Any

from secpipe.hub.api.endpoint import Call
from secpipe.hub.findings_v2 import ValidationError


async def get_findings_v2(call: Call) -> dict[str, Any]:
    body = call.body
    limit = body.get("MaxResults", 100)
    token = body.get("NextToken")
    if token is not None and not isinstance(token, str):
        raise ValidationError("NextToken must be a string")
    found, next_token = await call.run(call.store.get_findings_v2, body.get("Filters"),
                                       body.get("SortCriteria"), limit, token or None,
                                       body.get("Scopes"), partition=call.partition)
    out: dict[str, Any] = {"Findings": found}
    if next_token:
        out["NextToken"] = next_token
    return out
