"""Which findings the hub holds SUPPRESSED for the pipeline's gate, and by whom, until when.

A suppression in the hub is a triage decision (the dashboard, BatchUpdateFindings, or an
automation rule). The gate honours it only when whoever made it may triage: the history row
that set Workflow.Status SUPPRESSED names the actor, and the audit row written in the same
transaction (writers are serialised under the hub's write lock, so the first matching audit row
at or after the change is that call's) gives the role it held then. For a rule, the role is that
of whoever last created or changed the rule (its row's `creator_role`; for a rule deleted since,
the audit rows of CreateAutomationRule / BatchUpdateAutomationRules). A finding created already SUPPRESSED passed `import_rules.screen`,
which admits that only from a principal with the triage permission (or the local caller).

Expiry: the `secpipe:ExpiresAt` user-defined field (RFC 3339), or the dashboard's
`secpipe/SuppressedUntil` date (the suppression holds through that day, UTC). An expired (or
unreadable) expiry reopens the finding: Workflow NEW, the expiry fields cleared, one history row
whose actor says why.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any, Sequence

from sqlalchemy import select
from sqlalchemy.engine import Connection

from secpipe.hub import updates
from secpipe.hub.authz import FINDINGS_UPDATE, ROLE_PERMISSIONS
from secpipe.hub.common import iso_ms, loads
from secpipe.hub.schema import audit_log as A
from secpipe.hub.schema import automation_rules as R
from secpipe.hub.schema import finding_events as E
from secpipe.hub.schema import finding_map as M
from secpipe.hub.schema import findings as F

EXPIRES_KEY = "secpipe:ExpiresAt"
DASHBOARD_UNTIL = "secpipe/SuppressedUntil"     # secpipe.hub.dashboard.triage.EXPIRY_KEY
REPO_KEY = "secpipe/Repo"
REOPEN_ACTOR = "secpipe gate (suppression expired)"
RULE_ACTIONS = ("CreateAutomationRule", "BatchUpdateAutomationRules")


@dataclass(frozen=True)
class HubSuppression:
    """One finding the hub holds SUPPRESSED, as the gate sees it."""

    id: str
    product_arn: str
    note: str                 # the finding's Note.Text ("" when none)
    actor: str                # who suppressed it: a principal's name or a rule's ARN
    role: str                 # the actor's role then ("" when unknown)
    at: str                   # when (ISO, ms)
    expires: str | None       # as stored (RFC 3339 or a date), None when it never expires
    kind: str                 # "triage" | "rule" | "import"

    @property
    def trusted(self) -> bool:
        return FINDINGS_UPDATE in ROLE_PERMISSIONS.get(self.role, frozenset())

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "product_arn": self.product_arn, "note": self.note,
                "actor": self.actor, "role": self.role, "at": self.at,
                "expires": self.expires, "kind": self.kind}


def expiry_passed(expires: str | None, now: datetime) -> bool:
    """Whether an expiry lies in the past; an unreadable one counts as passed (fail closed:
    a typo must not make a suppression permanent)."""
    if not expires:
        return False
    text = expires.strip()
    try:
        if len(text) == 10:                     # a date: holds through that day
            return date.fromisoformat(text) < now.date()
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return True
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    return stamp <= now


def _suppressing(changes: dict[str, Any]) -> bool:
    wf = changes.get("Workflow")
    return isinstance(wf, list) and len(wf) == 2 and isinstance(wf[1], dict) \
        and wf[1].get("Status") == "SUPPRESSED"


def _audit_role(conn: Connection, target: str, at: str, actions: Sequence[str],
                after: bool) -> str:
    """The role of the audit row for `target` nearest to `at` (the first one at or after it,
    or the last one at or before it)."""
    needle = json.dumps(target, ensure_ascii=False)
    q = select(A.c.role).where(A.c.action.in_(list(actions)),
                                A.c.targets.contains(needle, autoescape=True))
    q = (q.where(A.c.at >= at).order_by(A.c.seq) if after
         else q.where(A.c.at <= at).order_by(A.c.seq.desc()))
    row = conn.execute(q.limit(1)).first()
    return row[0] if row else ""


def _rule_role(conn: Connection, arn: str, at: str) -> str:
    """The role of whoever last wrote the rule (its row), or, for a rule deleted since, of
    the last CreateAutomationRule / BatchUpdateAutomationRules before `at` (the audit trail)."""
    row = conn.execute(select(R.c.creator_role).where(R.c.arn == arn)).first()
    return row[0] if row else _audit_role(conn, arn, at, RULE_ACTIONS, after=False)


def _who(conn: Connection, fid: str, pk: int) -> tuple[str, str, str, str]:
    """(actor, role, at, kind) of the change that suppressed finding `pk`."""
    q = select(E.c.kind, E.c.actor, E.c.at, E.c.changes).where(E.c.finding_pk == pk) \
        .order_by(E.c.seq.desc())
    for kind, actor, at, changes in conn.execute(q):
        if not _suppressing(loads(changes)):
            continue
        if kind == "rule":
            return actor, _rule_role(conn, actor, at), at, "rule"
        return actor, _audit_role(conn, fid, at, ("BatchUpdateFindings",), after=True), at, \
            "triage"
    created = conn.execute(select(F.c.created_at).where(F.c.pk == pk)).scalar_one()
    # created SUPPRESSED: import_rules.screen let only a triage-capable principal do that
    return "import", "triage", created, "import"


def for_repo(conn: Connection, repo: str) -> list[HubSuppression]:
    """Every finding of `repo` (its `secpipe/Repo` product field) held SUPPRESSED."""
    in_repo = select(M.c.finding_pk).where(M.c.kind == "P", M.c.key == REPO_KEY,
                                           M.c.v == repo[:256])
    q = select(F.c.pk, F.c.id, F.c.product_arn, F.c.doc).where(
        F.c.workflow_status == "SUPPRESSED", F.c.pk.in_(in_repo)).order_by(F.c.pk)
    out = []
    for pk, fid, arn, text in conn.execute(q).all():
        doc = loads(text)
        fields = doc.get("UserDefinedFields") or {}
        expires = fields.get(EXPIRES_KEY) or fields.get(DASHBOARD_UNTIL) or None
        note = (doc.get("Note") or {}).get("Text") or ""
        actor, role, at, kind = _who(conn, fid, pk)
        out.append(HubSuppression(fid, arn, note, actor, role, iso_ms(at), expires, kind))
    return out


def reopen(conn: Connection, expired: Sequence[HubSuppression]) -> None:
    """Workflow NEW for findings whose suppression expired, recorded in their history."""
    for i in range(0, len(expired), updates.MAX_IDENTIFIERS):
        chunk = expired[i:i + updates.MAX_IDENTIFIERS]
        changes = {"Workflow": {"Status": "NEW"},
                   "Note": {"Text": "Reopened: the suppression expired", "UpdatedBy": "secpipe"},
                   "UserDefinedFields": {EXPIRES_KEY: "", DASHBOARD_UNTIL: ""}}
        updates.batch_update(conn, [{"Id": s.id, "ProductArn": s.product_arn} for s in chunk],
                             changes, REOPEN_ACTOR)


def by_rules(conn: Connection, docs: Sequence[dict[str, Any]], when: datetime
             ) -> list[HubSuppression]:
    """The findings among `docs` (a run's ASFF, not stored yet) that the hub's automation rules
    will hold SUPPRESSED once imported: the importer's own merge and rules, run on copies in a
    read transaction. Only rules whose writer may triage and expiries not passed count."""
    from secpipe.hub import importer, rules_apply
    from secpipe.hub.validate import BadFinding, check

    ruleset = rules_apply.load(conn)
    if not ruleset or not docs:
        return []
    keyed = {}
    for obj in docs:
        try:
            doc = check(obj)
        except BadFinding:
            continue                      # the import will refuse it; nothing to spare
        keyed[(doc["Id"], doc["ProductArn"])] = doc
    stored = importer._lookup(conn, list(keyed))
    old_docs = importer.load_docs(conn, [hit[0] for hit in stored.values()])
    out = []
    for key, doc in keyed.items():
        hit = stored.get(key)
        locked = ""
        if hit is not None:
            old, locked = old_docs[hit[0]]
            if old["Workflow"]["Status"] == "SUPPRESSED":
                continue                  # the hub's own suppression: `for_repo` judges it
            doc, _ = importer.merge(old, doc, [f for f in locked.split(",") if f])
        else:
            importer.on_create(doc)
        events: list[tuple] = []
        ruleset.apply(0, doc, locked, "", events)
        if doc["Workflow"]["Status"] != "SUPPRESSED":
            continue
        arn = next((e[3] for e in reversed(events) if _suppressing(loads(e[5]))), None)
        if arn is None:
            continue                      # it came suppressed (the run's own file entry)
        fields = doc.get("UserDefinedFields") or {}
        expires = fields.get(EXPIRES_KEY) or fields.get(DASHBOARD_UNTIL) or None
        found = HubSuppression(key[0], key[1], (doc.get("Note") or {}).get("Text") or "",
                               arn, _rule_role(conn, arn, "9999"),
                               "", expires, "rule")
        if found.trusted and not expiry_passed(expires, when):
            out.append(found)
    return out
