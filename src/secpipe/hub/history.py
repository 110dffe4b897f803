"""GetFindingHistory: a finding's change events in Security Hub's FindingHistoryRecord shape.

The history is the store's own (`finding_events`, written in the same transaction as each
change): BatchUpdateFindings writes `update` events, UpdateFindings `legacy` ones, an import
that changes a finding writes an `import` event with the fields it changed (`import_changes`)
and an `auto` event when Security Hub's rules moved Workflow.Status. The creation of a finding
is a record of its own (FindingCreated, no Updates), dated by the finding's CreatedAt.

Like Security Hub, the history leaves out the top-level timestamps (CreatedAt, UpdatedAt,
FirstObservedAt, LastObservedAt, ProcessedAt), and secpipe's run provenance (`PROVENANCE`):
an import that only moves them records nothing.
Updates name the ASFF field as a dotted path to a leaf (`Workflow.Status`, `Note.Text`,
`ProductFields.secpipe/RunId`); values are strings (a non-string value as its JSON).

Time window as Security Hub answers it: StartTime and EndTime both given -> that window;
StartTime only -> up to now; EndTime only -> the 90 days before it; neither -> the last 90
days. Paging: MaxResults 1-100 records, NextToken bound to the request.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

from sqlalchemy import select
from sqlalchemy.engine import Connection

from secpipe.hub.common import (canon_time, decode_token, dumps, encode_token, fingerprint,
                                iso_ms, loads, now)
from secpipe.hub.interface import InvalidInput
from secpipe.hub.schema import finding_events as E
from secpipe.hub.schema import findings as F

TIMESTAMPS = frozenset({"CreatedAt", "UpdatedAt", "FirstObservedAt", "LastObservedAt",
                        "ProcessedAt"})
MAPS = ("ProductFields", "UserDefinedFields")
# secpipe's run provenance: which run and commit saw the finding last. Every run re-imports
# every finding it sees with these moved, so they would make an event per finding per run
# (a 1M-finding re-import = 1M rows) that says only "observed again", which the run's own
# rows (`run_findings`) already record. Like the timestamps, they are not a change.
PROVENANCE = frozenset({"ProductFields.secpipe/RunId", "ProductFields.secpipe/Commit"})
RETENTION_DAYS = 90
BATCH_UPDATE = "BATCH_UPDATE_FINDINGS"
BATCH_IMPORT = "BATCH_IMPORT_FINDINGS"
UPDATE_KINDS = frozenset({"update", "legacy", "rule"})   # a customer's change (an automation
# rule acts as BatchUpdateFindings with its ARN as Identity), not a provider's


def import_changes(old: Mapping[str, Any], new: Mapping[str, Any],
                   skip: frozenset[str] = frozenset()) -> dict[str, list[Any]]:
    """{field: [before, after]} of what an import changed, without the timestamps; map fields
    per key (`ProductFields.secpipe/RunId`) so an event does not copy a whole map twice."""
    out: dict[str, list[Any]] = {}
    for key in new.keys() | old.keys():
        if key in TIMESTAMPS or key in skip:
            continue
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        if key in MAPS and isinstance(before or {}, dict) and isinstance(after or {}, dict):
            b, a = before or {}, after or {}
            for k in b.keys() | a.keys():
                if b.get(k) != a.get(k) and f"{key}.{k}" not in PROVENANCE:
                    out[f"{key}.{k}"] = [b.get(k), a.get(k)]
        else:
            out[key] = [before, after]
    return out


def _scoped(scope: Any) -> list[Any]:
    return [] if scope is None else [scope]


def _leaves(path: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and value:
        for k, v in value.items():
            _leaves(f"{path}.{k}", v, out)
    else:
        out[path] = value


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else dumps(value)
    return text if text.strip() else None


def updates(changes: Mapping[str, Any]) -> list[dict[str, str]]:
    """An event's {field: [before, after]} as FindingHistoryUpdate objects, one per leaf."""
    out: list[dict[str, str]] = []
    for field in sorted(changes):
        pair = changes[field]
        if not isinstance(pair, list) or len(pair) != 2:
            continue
        before: dict[str, Any] = {}
        after: dict[str, Any] = {}
        _leaves(field, pair[0], before)
        _leaves(field, pair[1], after)
        for leaf in sorted(before.keys() | after.keys()):
            old, new = _text(before.get(leaf)), _text(after.get(leaf))
            if old == new:
                continue
            item = {"UpdatedField": leaf}
            if old is not None:
                item["OldValue"] = old
            if new is not None:
                item["NewValue"] = new
            out.append(item)
    return out


def _time(value: Any, what: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):   # epoch seconds
        value = datetime.fromtimestamp(value, timezone.utc).isoformat()
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be a timestamp")
    try:
        return canon_time(value)
    except ValueError:
        raise InvalidInput(f"{what} must be an ISO 8601 timestamp, not {value!r}") from None


def window(start: Any, end: Any) -> tuple[str, str]:
    """The canonical [start, end] Security Hub reads for StartTime/EndTime (see the top)."""
    lo, hi = _time(start, "StartTime"), _time(end, "EndTime")
    if lo is not None and hi is not None and lo > hi:
        raise InvalidInput("StartTime must not be after EndTime")
    back = timedelta(days=RETENTION_DAYS)
    if hi is None:
        hi = now()
        if lo is None:
            lo = canon_time((datetime.now(timezone.utc) - back).isoformat())
    elif lo is None:
        lo = canon_time((datetime.fromisoformat(hi.replace("Z", "+00:00")) - back).isoformat())
    return lo, hi          # a StartTime after now: an empty window


def records(conn: Connection, finding_id: str, product_arn: str, start: Any, end: Any,
            max_results: int, next_token: str | None, scope: Any = None
            ) -> tuple[list[dict[str, Any]], str | None]:
    """One page of FindingHistoryRecords, oldest first; none for a finding the hub lacks
    (in the account and region `scope`, a condition on `findings`, narrows it to)."""
    lo, hi = window(start, end)
    ident = {"Id": finding_id, "ProductArn": product_arn}
    digest = fingerprint([ident, str(start), str(end)])
    after = -1
    if next_token:
        token = decode_token(next_token)
        after = token.get("seq")
        if token.get("q") != digest or type(after) is not int:
            raise InvalidInput("NextToken does not belong to this request")
    found = conn.execute(select(F.c.pk, F.c.created_at).where(
        F.c.id == finding_id, F.c.product_arn == product_arn, *_scoped(scope))).first()
    if found is None:
        return [], None
    out: list[tuple[int, dict[str, Any]]] = []
    if after < 0 and lo <= found.created_at <= hi:
        out.append((0, {"FindingIdentifier": ident, "UpdateTime": iso_ms(found.created_at),
                        "FindingCreated": True,
                        "UpdateSource": {"Type": BATCH_IMPORT, "Identity": product_arn},
                        "Updates": []}))
    q = (select(E).where(E.c.finding_pk == found.pk, E.c.seq > max(after, 0),
                         E.c.at >= lo, E.c.at <= hi)
         .order_by(E.c.seq).limit(max_results + 1))
    for e in conn.execute(q):
        source = BATCH_UPDATE if e.kind in UPDATE_KINDS else BATCH_IMPORT
        out.append((e.seq, {"FindingIdentifier": ident, "UpdateTime": iso_ms(e.at),
                            "FindingCreated": False,
                            "UpdateSource": {"Type": source, "Identity": e.actor or "unknown"},
                            "Updates": updates(loads(e.changes))}))
    token_out = None
    if len(out) > max_results:
        out = out[:max_results]
        token_out = encode_token({"q": digest, "seq": out[-1][0]})
    return [r for _, r in out], token_out
