"""GetFindingHistory and UpdateFindings (legacy) on the Security Hub routes."""

from __future__ import annotations

from typing import Any

from secpipe.hub.api.endpoint import Call
from secpipe.hub.api.shapes import conforms
from secpipe.hub.api.validate import filters, max_results, member, next_token, paged
from secpipe.hub.interface import InvalidInput


@conforms("GetFindingHistory")
async def get_finding_history(call: Call) -> dict[str, Any]:
    ident = member(call.body, "FindingIdentifier", dict, required=True)
    fid = member(ident, "Id", str, required=True, where="FindingIdentifier")
    arn = member(ident, "ProductArn", str, required=True, where="FindingIdentifier")
    records, token = await call.run(
        call.store.finding_history_records, fid, arn, start=call.body.get("StartTime"),
        end=call.body.get("EndTime"), max_results=max_results(call.body),
        next_token=next_token(call.body), partition=call.partition)
    return paged("Records", records, token)


@conforms("UpdateFindings")
async def update_findings(call: Call) -> dict[str, Any]:
    """UpdateFindings: Note and/or RecordState on every finding the Filters match."""
    where = filters(call.body, required=True)
    note = member(call.body, "Note", dict)
    state = member(call.body, "RecordState", str)
    if note is None and state is None:
        raise InvalidInput("UpdateFindings needs Note or RecordState")
    await call.run(call.store.update_findings, where or {}, note=note, record_state=state,
                   principal=call.caller, partition=call.partition)
    return {}
