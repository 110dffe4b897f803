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

from sqlalchemy.engine import Connection

from secpipe.hub import bulk, fieldupdates, filtermatch, filterspec
from secpipe.hub.interface import Partition
from secpipe.hub.common import dumps, loads

LOCKS = ("Confidence", "Criticality", "RelatedFindings", "Severity", "Types")
KIND = "rule"


@dataclass(frozen=True)
class Rule:
    arn: str
    account: str
    region: str | None                 # None: loaded for one partition, so its region is the import's
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
            if (rule.region is not None and rule.region != region) or (self.admin_account is not None
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


# The enabled rules' rows, read on the driver's cursor: the SQLAlchemy select built and
# executed on every write transaction cost ~0.4 ms (4 us per finding of a 100-finding
# BatchImportFindings call), more than the query itself (an indexed read of a few rows).
_SELECT = ("SELECT arn, hub_account, hub_region, is_terminal, criteria, actions"
           " FROM automation_rules WHERE status = 'ENABLED'")
_ORDER = " ORDER BY rule_order, seq"
_ALL = _SELECT + _ORDER
_OF_PARTITION = _SELECT + " AND hub_account = ? AND hub_region = ?" + _ORDER
# Parsed rules by the exact row they were parsed from (and whether loaded for one partition).
# The rows are read in every transaction, so a rule created, changed or disabled since, by
# this process or another, is a row not seen before and parsed afresh: nothing is ever served
# from an older read. Only rules whose parsing does not read the clock are kept: a DateRange
# criterion is "now - N days" and a Note change is stamped "now" (`_timeless`); those are
# parsed on every load, as before.
_PARSED: dict[tuple, Rule] = {}
_PARSED_MAX = 1024


def load(conn: Connection, admin_account: str | None = None,
         partition: Partition | None = None) -> Ruleset:
    """The enabled rules in rule order (one query): those of `partition`, the account and
    region the findings are imported into, as Security Hub applies a region's rules to what is
    imported there; without one, every partition's, matched on each finding's Region."""
    if partition is None:
        rows = bulk.driver_rows(conn, _ALL, ())
    else:
        rows = bulk.driver_rows(conn, _OF_PARTITION, (partition.account, partition.region))
    one = partition is not None
    rules = []
    for row in rows:
        key = (one, *row)
        rule = _PARSED.get(key)
        if rule is None:
            rule, timeless = _parse(row, one)
            if timeless:
                if len(_PARSED) >= _PARSED_MAX:
                    _PARSED.clear()
                _PARSED[key] = rule
        rules.append(rule)
    return Ruleset(rules, admin_account)


def _parse(row: tuple, one_partition: bool) -> tuple[Rule, bool]:
    """A stored rule's row as `Rule` (InvalidInput when its criteria or changes are bad), and
    whether parsing it again later would give the same `Rule` (`_timeless`)."""
    arn, account, region, terminal, criteria, actions = row
    fields = (loads(actions) or [{}])[0].get("FindingFieldsUpdate") or {}
    criteria = loads(criteria)
    rule = Rule(arn, account, None if one_partition else region, bool(terminal),
                parse_criteria(criteria), fieldupdates.check_changes(fields, arn))
    return rule, "Note" not in rule.changes and not _names(criteria, "DateRange")


def _names(obj: Any, name: str) -> bool:
    """Whether any object in `obj` (JSON) has a member `name`."""
    if isinstance(obj, Mapping):
        return name in obj or any(_names(v, name) for v in obj.values())
    if isinstance(obj, list):
        return any(_names(v, name) for v in obj)
    return False


def parse_criteria(criteria: Mapping[str, Any]) -> list[Any]:
    """A rule's Criteria parsed as GetFindings parses Filters (InvalidInput when bad), without
    GetFindings' cap on the number of attributes: a rule may name every one of its criteria."""
    return [filterspec.parse(k, v) for k, v in criteria.items() if v not in (None, [])]
