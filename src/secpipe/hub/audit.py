"""The audit trail: one append-only row per state-changing call, in the call's own transaction.

Like CloudTrail, a row says who (the principal: key id, "token", "user:NAME", "local:USER"),
with which role, from where (the client address), when, what (the action: the operation name,
or `denied:OPERATION` for a refused call, `login` / `login-failed`), on which targets (finding
Ids, a run id, an insight ARN, a key id, a user name) and a before/after digest: SHA-256 over
the targets' stored state, so a later reader can tell whether the call changed anything and
match it against a backup, without the audit table holding a second copy of every finding.

Written in the same transaction as the change it describes, so there is no change without its
row (a crash loses both or neither).

Findings digests have two formats; a row says which in its detail (`STATE_KEY`), and
`findings_state(conn, keys, version)` recomputes either, so rows written before the change
still verify:
- version 1 (rows without the marker): SHA-256 of the canonical JSON of the sorted
  [Id, ProductArn, stored document] triples;
- version 2 (`"state_digest": 2`): SHA-256 over the same triples, sorted the same way, each
  fed as length-prefixed UTF-8 (`len:Id len:ProductArn len:doc`), without building one JSON
  text of every document: the JSON dump cost BatchImportFindings about 40 µs a finding.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Iterable, Mapping, Sequence

from sqlalchemy import select, text
from sqlalchemy.engine import Connection

from secpipe.hub.authz import Principal, local_principal
from secpipe.hub.bulk import driver_rows
from secpipe.hub.common import canon_time, iso_ms, now
from secpipe.hub.interface import InvalidInput
from secpipe.hub.schema import audit_log as A

MAX_TARGETS = 1000     # a run can touch 100k findings: the row keeps the first ones and a count
_CHUNK = 900
# text, not `insert(A)`: compiling the Core form cost ~0.5 ms in every process that records
# once (a pipeline's run); text compiles in ~0.1 (same connection, transaction and hooks)
_COLS = ("at", "principal", "role", "source", "action", "targets", "before", "after", "detail")
_INSERT = text("INSERT INTO audit_log (" + ", ".join(f'"{c}"' for c in _COLS) + ") VALUES ("
               + ", ".join(f":{c}" for c in _COLS) + ")")


def digest(value: Any) -> str:
    """SHA-256 hex of a JSON-able value (canonical: sorted keys); "" for None."""
    if value is None:
        return ""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


STATE_KEY = "state_digest"      # detail member naming the findings digest's format
STATE_VERSION = 2               # what findings_state writes now (see the module docstring)


def findings_state(conn: Connection, keys: Iterable[tuple[str, str]],
                   version: int = STATE_VERSION) -> str:
    """Digest of the stored documents of findings (Id, ProductArn); "" when none exist.
    `version` 1 is the format of rows without `STATE_KEY` in their detail."""
    return state_digest(stored_state(conn, keys).values(), version)


StoredState = dict[Any, tuple[str, str, str]]     # pk -> (Id, ProductArn, stored doc text)


def stored_state(conn: Connection, keys: Iterable[tuple[str, str]]) -> StoredState:
    """The rows `findings_state` digests, by pk: a writer that knows what it wrote (pk and
    text of every row it created or rewrote) has the state after its writes as these rows
    with its own put in (`written_state`), without reading the documents back."""
    wanted = set(keys)
    return _stored_docs(conn, wanted) if wanted else {}


def written_state(before: StoredState, written: StoredState) -> StoredState:
    """The rows `stored_state` would read after a write that created or rewrote exactly the
    rows of `written` (pk -> (Id, ProductArn, text)) among the keys `before` was read for.
    Such a row is one `_stored_docs` would read: its Id is a string without NUL (the checks
    refuse a finding holding NUL), and its key is one of the call's."""
    return {**before, **written} if written else before


def state_digest(rows: Iterable[tuple[str, str, str]], version: int = STATE_VERSION) -> str:
    """`findings_state`'s digest of (Id, ProductArn, doc) rows; "" for none."""
    found = sorted(rows)
    if not found:
        return ""
    if version == 1:
        return digest(found)
    if version != 2:
        raise ValueError(f"unknown findings digest version {version}")
    h = hashlib.sha256()
    for part in found:
        for text in part:
            raw = text.encode("utf-8", "surrogatepass")
            h.update(b"%d:" % len(raw))
            h.update(raw)
    return h.hexdigest()


def _stored_docs(conn: Connection, wanted: set[tuple[str, str]]) -> StoredState:
    """{pk: (Id, ProductArn, stored document text)} of the findings `wanted` names, on the
    driver's own cursor (SQLAlchemy's per-row result handling cost more than the query)."""
    ids = sorted({k[0] for k in wanted if isinstance(k[0], str) and "\x00" not in k[0]})
    found: StoredState = {}
    for i in range(0, len(ids), _CHUNK):
        chunk = ids[i:i + _CHUNK]
        sql = ("SELECT pk, id, product_arn, doc FROM findings WHERE id IN ("
               + ", ".join("?" for _ in chunk) + ")")
        for pk, fid, arn, doc in driver_rows(conn, sql, chunk):
            if (fid, arn) in wanted:
                found[pk] = (fid, arn, doc)
    return found


def state_version(row: Mapping[str, Any]) -> int:
    """The findings digest format of an audit row as `query` returns it (1 when unmarked)."""
    detail = row.get("detail") or {}
    return int(detail.get(STATE_KEY, 1)) if isinstance(detail, Mapping) else 1


def record(conn: Connection, principal: Principal | None, action: str,
           targets: Sequence[str] = (), *, before: str = "", after: str = "",
           detail: Mapping[str, Any] | None = None) -> None:
    """Append one row; `principal` None is the local caller (the CLI on the database)."""
    who = principal or local_principal()
    targets = list(targets)
    extra = dict(detail or {})
    if len(targets) > MAX_TARGETS:
        extra["targets_total"] = len(targets)
        targets = targets[:MAX_TARGETS]
    # one statement object with parameters: `.values(...)` built a new statement (and its
    # cache key) on every call
    conn.execute(_INSERT, dict(
        at=now(), principal=who.name[:160], role=who.role[:16], source=(who.source or "")[:64],
        action=action[:64], targets=json.dumps(targets, ensure_ascii=False), before=before,
        after=after, detail=json.dumps(extra, ensure_ascii=False, default=str)))


def query(conn: Connection, *, since: str | None = None, principal: str | None = None,
          finding: str | None = None, action: str | None = None,
          limit: int = 200) -> list[dict[str, Any]]:
    """Newest first. `since` is an ISO 8601 instant; `finding` matches a target Id exactly."""
    q = select(A)
    if since:
        try:
            q = q.where(A.c.at >= canon_time(since))
        except (ValueError, OverflowError):
            raise InvalidInput(f"--since must be an ISO 8601 timestamp, not {since!r}") from None
    if principal:
        q = q.where(A.c.principal == principal)
    if action:
        q = q.where(A.c.action == action)
    if finding:
        # targets is a JSON list: the Id appears quoted in it exactly when it is a target
        needle = json.dumps(finding, ensure_ascii=False)
        q = q.where(A.c.targets.contains(needle, autoescape=True))
    rows = conn.execute(q.order_by(A.c.seq.desc()).limit(max(1, min(limit, 10000)))).all()
    return [{"seq": r.seq, "at": iso_ms(r.at), "principal": r.principal, "role": r.role,
             "source": r.source, "action": r.action, "targets": json.loads(r.targets),
             "before": r.before, "after": r.after, "detail": json.loads(r.detail)}
            for r in rows]
