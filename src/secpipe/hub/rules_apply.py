"""Automation rules applied on import, before storage, as Security Hub applies them.

The importer calls `load` once per write transaction (one indexed query; nothing to do when no
rule is enabled) and `Ruleset.apply` on each finding it is about to store - a new finding after
its creation-time workflow change, an updated one after the provider's update has been merged
into the stored document. Security Hub's semantics:
- rules apply to findings the hub ingests (created or updated by BatchImportFindings, a run's
  record, a bulk import), not to BatchUpdateFindings, and only from their creation on;
- enabled rules of the finding's Region, lowest RuleOrder first (ties: oldest rule first); a
  rule whose Criteria match (GetFindings filter semantics, on the document as the previous
  rules left it) applies its FINDING_FIELDS_UPDATE as BatchUpdateFindings would, and a
  matching terminal rule ends the evaluation;
- a rule of the administrator account applies to every account's findings, a rule kept under
  another account to that account's findings only; the importer loads the rules without naming
  an administrator (`load(conn)`), which makes every rule the administrator's: the hub's
  configured account is the administrator, and rules are created under it;
- each change lands in the finding's history (kind "rule", the rule's ARN as actor), and the
  fields it changed become the customer's (later provider updates keep them), as a
  BatchUpdateFindings change does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from sqlalchemy import select
from sqlalchemy.engine import Connection

from secpipe.hub import fieldupdates, filtermatch, filterspec
from secpipe.hub.common import dumps, loads
from secpipe.hub.schema import automation_rules as R

LOCKS = ("Confidence", "Criticality", "RelatedFindings", "Severity", "Types")
KIND = "rule"


@dataclass(frozen=True)
class Rule:
    arn: str
    account: str
    region: str
    terminal: bool
    criteria: list[Any]                # filtermatch.parse_all of the rule's Criteria
    changes: Mapping[str, Any]         # its FindingFieldsUpdate, checked once per load


@dataclass
class Ruleset:
    """The enabled rules, in application order, and the administrator account."""

    rules: list[Rule] = field(default_factory=list)
    # None: every rule is the administrator's (the hub's own account keeps them all today)
    admin_account: str | None = None

    def __bool__(self) -> bool:
        return bool(self.rules)

    def apply(self, pk: int, doc: dict[str, Any], locked: str, stamp: str,
              events: list[tuple], run_id: str | None = None) -> tuple[str, bool]:
        """Apply the matching rules to `doc` in place; history rows go to `events` (the
        importer's EVENT_COLS). Returns the finding's new `locked` list and whether any rule
        changed the document."""
        if not self.rules:
            return locked, False
        lock = {f for f in locked.split(",") if f}
        changed = False
        region, account = doc.get("Region"), doc.get("AwsAccountId")
        for rule in self.rules:
            if rule.region != region or (self.admin_account is not None
                                         and rule.account not in (account, self.admin_account)):
                continue
            if not filtermatch.matches_parsed(rule.criteria, doc):
                continue
            diff = fieldupdates.apply_changes(doc, rule.changes)
            if diff:
                events.append((pk, stamp, KIND, rule.arn, run_id, dumps(diff)))
                lock.update(k for k in diff if k in LOCKS)
                changed = True
            if rule.terminal:
                break
        return ",".join(sorted(lock)), changed


def load(conn: Connection, admin_account: str | None = None) -> Ruleset:
    """The enabled rules of every partition, in rule order (one query)."""
    q = (select(R.c.arn, R.c.hub_account, R.c.hub_region, R.c.is_terminal, R.c.criteria,
                R.c.actions).where(R.c.status == "ENABLED").order_by(R.c.rule_order, R.c.seq))
    rules = []
    for arn, account, region, terminal, criteria, actions in conn.execute(q):
        fields = (loads(actions) or [{}])[0].get("FindingFieldsUpdate") or {}
        rules.append(Rule(arn, account, region, bool(terminal),
                          parse_criteria(loads(criteria)),
                          fieldupdates.check_changes(fields, arn)))
    return Ruleset(rules, admin_account)


def parse_criteria(criteria: Mapping[str, Any]) -> list[Any]:
    """A rule's Criteria parsed as GetFindings parses Filters (InvalidInput when bad), without
    GetFindings' cap on the number of attributes: a rule may name every one of its criteria."""
    return [filterspec.parse(k, v) for k, v in criteria.items() if v not in (None, [])]
