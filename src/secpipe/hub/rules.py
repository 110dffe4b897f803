"""Security Hub's automation rules: create, read, update, delete, list (per account and region).

A rule is a standing triage decision: when a finding the hub ingests matches its `Criteria`
(an `AutomationRulesFindingFilters`, evaluated with the GetFindings filter semantics), its one
`FINDING_FIELDS_UPDATE` action changes the finding as BatchUpdateFindings would. Applying them
on import is `secpipe.hub.rules_apply`; this module keeps the rows.

Security Hub's rules of the API, as botocore's model and the user guide give them:
- RuleOrder 1-1000 (lower applies first), RuleStatus ENABLED (default) / DISABLED, IsTerminal;
- Actions: exactly one, of Type FINDING_FIELDS_UPDATE, with at least one field to update;
- 100 rules per account and region (LimitExceededException on the 101st);
- Batch* calls take 1-100 ARNs; an ARN that names no rule lands in UnprocessedAutomationRules
  (ErrorCode 404) while the others are processed.
"""

from __future__ import annotations

import uuid
from typing import Any, Mapping, Sequence

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection, Row

from secpipe.hub import fieldupdates, rules_apply
from secpipe.hub.authz import Principal, local_principal
from secpipe.hub.common import bad_text, decode_token, dumps, encode_token, iso_ms, loads, now
from secpipe.hub.interface import InvalidInput, LimitExceeded, Partition
from secpipe.hub.schema import automation_rules as R

MAX_RULES = 100          # Security Hub's quota per account and region
MAX_BATCH = 100
ACTION_TYPE = "FINDING_FIELDS_UPDATE"
STATUSES = ("ENABLED", "DISABLED")
CRITERIA_SHAPE = "AutomationRulesFindingFilters"
_MAX_VALUES = {"AwsAccountId": 100}   # every other criterion: 20 values


# --- checks ------------------------------------------------------------------------------------
def _criteria_members() -> dict[str, Any]:
    from secpipe.hub.api.botomodel import service_model

    return dict(service_model().shape_for(CRITERIA_SHAPE).members)


def _conforms(value: Any, shape: Any, label: str) -> None:
    """InvalidInput unless `value` has the JSON type, enum and bounds of botocore's `shape`."""
    kind, meta = shape.type_name, shape.metadata
    if kind == "structure":
        if not isinstance(value, Mapping):
            raise InvalidInput(f"{label} must be an object")
        for key in value:
            if key not in shape.members:
                raise InvalidInput(f"{label}.{key} is not a member of {shape.name}")
        for key in shape.required_members:
            if value.get(key) is None:
                raise InvalidInput(f"Missing required parameter {label}.{key}")
        for key, item in value.items():
            if item is not None:
                _conforms(item, shape.members[key], f"{label}.{key}")
        return
    if kind == "list":
        if not isinstance(value, list):
            raise InvalidInput(f"{label} must be a list")
        lo, hi = meta.get("min", 0), meta.get("max")
        if len(value) < lo or (hi is not None and len(value) > hi):
            raise InvalidInput(f"{label} must have {lo}-{hi if hi is not None else 'any'} items")
        for i, item in enumerate(value):
            _conforms(item, shape.member, f"{label}[{i}]")
        return
    if kind == "map":
        if not isinstance(value, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise InvalidInput(f"{label} must map strings to strings")
        return
    if kind == "string":
        if not isinstance(value, str):
            raise InvalidInput(f"{label} must be a string")
        if "enum" in meta and value not in meta["enum"]:
            raise InvalidInput(f"{label} must be one of {', '.join(meta['enum'])}")
        if meta.get("pattern") == ".*\\S.*" and not value.strip():
            raise InvalidInput(f"{label} must not be blank")
        return
    if kind == "boolean":
        if not isinstance(value, bool):
            raise InvalidInput(f"{label} must be a boolean")
        return
    if kind in ("integer", "long", "double", "float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (
                kind in ("integer", "long") and not isinstance(value, int)):
            raise InvalidInput(f"{label} must be a number" if kind in ("double", "float")
                               else f"{label} must be an integer")
        if ("min" in meta and value < meta["min"]) or ("max" in meta and value > meta["max"]):
            raise InvalidInput(f"{label} must be between {meta.get('min')} and {meta.get('max')}")
        return
    if kind == "timestamp":
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise InvalidInput(f"{label} must be a timestamp")


def check_criteria(criteria: Any) -> dict[str, Any]:
    """The Criteria, checked against AutomationRulesFindingFilters (keys and filter shapes)."""
    if not isinstance(criteria, Mapping):
        raise InvalidInput("Criteria must be an object")
    members = _criteria_members()
    for key, filters in criteria.items():
        if key not in members:
            raise InvalidInput(f"Criteria.{key} is not a criterion of automation rules")
        _conforms(filters, members[key], f"Criteria.{key}")
        if len(filters) > _MAX_VALUES.get(key, 20) or not filters:
            raise InvalidInput(f"Criteria.{key} takes 1-{_MAX_VALUES.get(key, 20)} filters")
    rules_apply.parse_criteria(criteria)   # the values (dates, comparisons) as GetFindings'
    return dict(criteria)


def check_actions(actions: Any) -> list[dict[str, Any]]:
    """Exactly one FINDING_FIELDS_UPDATE action whose fields BatchUpdateFindings accepts."""
    if not isinstance(actions, list) or len(actions) != 1:
        raise InvalidInput("Actions must hold exactly one action")
    action = actions[0]
    if not isinstance(action, Mapping) or action.get("Type") != ACTION_TYPE:
        raise InvalidInput(f"Actions[0].Type must be {ACTION_TYPE}")
    fields = action.get("FindingFieldsUpdate")
    if not isinstance(fields, Mapping) or not fields:
        raise InvalidInput("Actions[0].FindingFieldsUpdate must name at least one field")
    from secpipe.hub.api.botomodel import service_model

    _conforms(fields, service_model().shape_for("AutomationRulesFindingFieldsUpdate"),
              "Actions[0].FindingFieldsUpdate")
    note = fields.get("Note")
    if note is not None and (not note.get("UpdatedBy") or not note.get("Text")):
        raise InvalidInput("Actions[0].FindingFieldsUpdate.Note needs Text and UpdatedBy")
    fieldupdates.check_changes(fields, "rule")     # the same value rules as BatchUpdateFindings
    return [{"Type": ACTION_TYPE, "FindingFieldsUpdate": dict(fields)}]


def _check_scalars(values: Mapping[str, Any]) -> None:
    for key in ("RuleName", "Description"):
        v = values.get(key)
        if v is not None and (not isinstance(v, str) or not v.strip()
                              or len(v) > (256 if key == "RuleName" else 1024)):
            raise InvalidInput(f"{key} must be 1-{256 if key == 'RuleName' else 1024} "
                               "characters, not blank")
    order = values.get("RuleOrder")
    if order is not None and (isinstance(order, bool) or not isinstance(order, int)
                              or not 1 <= order <= 1000):
        raise InvalidInput("RuleOrder must be an integer from 1 to 1000")
    status = values.get("RuleStatus")
    if status is not None and status not in STATUSES:
        raise InvalidInput("RuleStatus must be ENABLED or DISABLED")
    if values.get("IsTerminal") is not None and not isinstance(values["IsTerminal"], bool):
        raise InvalidInput("IsTerminal must be a boolean")
    problem = bad_text(dict(values))
    if problem:
        raise InvalidInput(problem)


# --- rows ----------------------------------------------------------------------------------------
def _where(partition: Partition):
    return (R.c.hub_account == partition.account) & (R.c.hub_region == partition.region)


def _metadata(row: Row) -> dict[str, Any]:
    return {"RuleArn": row.arn, "RuleStatus": row.status, "RuleOrder": row.rule_order,
            "RuleName": row.name, "Description": row.description,
            "IsTerminal": bool(row.is_terminal), "CreatedAt": iso_ms(row.created_at),
            "UpdatedAt": iso_ms(row.updated_at), "CreatedBy": row.created_by}


def config(row: Row) -> dict[str, Any]:
    """AutomationRulesConfig: the metadata with Criteria and Actions."""
    return {**_metadata(row), "Criteria": loads(row.criteria), "Actions": loads(row.actions)}


def create(conn: Connection, partition: Partition, request: Mapping[str, Any],
           principal: Principal | None) -> str:
    """CreateAutomationRule; the new rule's ARN."""
    for key in ("RuleOrder", "RuleName", "Description", "Criteria", "Actions"):
        if request.get(key) is None:
            raise InvalidInput(f"Missing required parameter {key}")
    _check_scalars(request)
    criteria = check_criteria(request["Criteria"])
    actions = check_actions(request["Actions"])
    tags = request.get("Tags") or {}
    if not isinstance(tags, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in tags.items()) \
            or len(tags) > 50:
        raise InvalidInput("Tags must map at most 50 strings to strings")
    count = conn.execute(select(func.count()).select_from(R).where(_where(partition))
                         ).scalar_one()
    if count >= MAX_RULES:
        raise LimitExceeded(f"You have reached the quota of {MAX_RULES} automation rules in "
                            f"account {partition.account} and region {partition.region}")
    who = principal or local_principal()
    arn = (f"arn:aws:securityhub:{partition.region}:{partition.account}:"
           f"automation-rule/{uuid.uuid4()}")
    stamp = now()
    conn.execute(insert(R).values(
        arn=arn, hub_account=partition.account, hub_region=partition.region,
        rule_order=request["RuleOrder"], name=request["RuleName"],
        description=request["Description"], status=request.get("RuleStatus") or "ENABLED",
        is_terminal=bool(request.get("IsTerminal")), criteria=dumps(criteria),
        actions=dumps(actions), tags=dumps(dict(tags)), created_at=stamp, updated_at=stamp,
        created_by=who.name[:160], creator_role=who.role[:16]))
    return arn


def _arns(arns: Any) -> list[str]:
    if not isinstance(arns, list) or not 1 <= len(arns) <= MAX_BATCH \
            or not all(isinstance(a, str) and a.strip() for a in arns):
        raise InvalidInput(f"AutomationRulesArns must list 1-{MAX_BATCH} rule ARNs")
    return arns


def _unprocessed(arn: str, code: int, message: str) -> dict[str, Any]:
    return {"RuleArn": arn, "ErrorCode": code, "ErrorMessage": message}


def _rows(conn: Connection, partition: Partition, arns: Sequence[str]) -> dict[str, Row]:
    found = conn.execute(select(R).where(_where(partition) & R.c.arn.in_(list(set(arns)))))
    return {row.arn: row for row in found}


def batch_get(conn: Connection, partition: Partition, arns: Any
              ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rows = _rows(conn, partition, _arns(arns))
    got, missing = [], []
    for arn in dict.fromkeys(arns):
        if arn in rows:
            got.append(config(rows[arn]))
        else:
            missing.append(_unprocessed(arn, 404, "no automation rule has this ARN"))
    return got, missing


def batch_update(conn: Connection, partition: Partition, items: Any,
                 principal: Principal | None) -> tuple[list[str], list[dict[str, Any]]]:
    """BatchUpdateAutomationRules: a malformed item fails the whole call (as a bad request
    does in Security Hub); an ARN that names no rule is unprocessed."""
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH:
        raise InvalidInput(f"UpdateAutomationRulesRequestItems must hold 1-{MAX_BATCH} items")
    checked: list[tuple[str, dict[str, Any]]] = []
    for i, item in enumerate(items):
        if not isinstance(item, Mapping) or not isinstance(item.get("RuleArn"), str):
            raise InvalidInput(f"UpdateAutomationRulesRequestItems[{i}] needs RuleArn")
        _check_scalars(item)
        values: dict[str, Any] = {}
        simple = (("RuleOrder", "rule_order"), ("RuleName", "name"),
                  ("Description", "description"), ("RuleStatus", "status"),
                  ("IsTerminal", "is_terminal"))
        for key, col in simple:
            if item.get(key) is not None:
                values[col] = item[key]
        if item.get("Criteria") is not None:
            values["criteria"] = dumps(check_criteria(item["Criteria"]))
        if item.get("Actions") is not None:
            values["actions"] = dumps(check_actions(item["Actions"]))
        checked.append((item["RuleArn"], values))
    rows = _rows(conn, partition, [arn for arn, _ in checked])
    who = principal or local_principal()
    done, missing = [], []
    for arn, values in checked:
        if arn not in rows:
            missing.append(_unprocessed(arn, 404, "no automation rule has this ARN"))
            continue
        # the rule is now (also) this writer's decision: the gate trusts the weaker of the two
        role = who.role if rows[arn].creator_role in ("admin", who.role) else rows[arn].creator_role
        conn.execute(update(R).where(R.c.arn == arn).values(
            **values, updated_at=now(), creator_role=role[:16]))
        done.append(arn)
    return done, missing


def batch_delete(conn: Connection, partition: Partition, arns: Any
                 ) -> tuple[list[str], list[dict[str, Any]]]:
    rows = _rows(conn, partition, _arns(arns))
    done, missing = [], []
    for arn in dict.fromkeys(arns):
        if arn in rows:
            conn.execute(delete(R).where(R.c.arn == arn))
            done.append(arn)
        else:
            missing.append(_unprocessed(arn, 404, "no automation rule has this ARN"))
    return done, missing


def list_(conn: Connection, partition: Partition, max_results: int, next_token: str | None
          ) -> tuple[list[dict[str, Any]], str | None]:
    """ListAutomationRules: metadata in rule order (then creation), paged."""
    if isinstance(max_results, bool) or not isinstance(max_results, int) \
            or not 1 <= max_results <= 100:
        raise InvalidInput("MaxResults must be between 1 and 100")
    q = select(R).where(_where(partition)).order_by(R.c.rule_order, R.c.seq)
    rows = conn.execute(q).all()
    start = 0
    if next_token:
        start = decode_token(next_token).get("at")
        if not isinstance(start, int) or start < 0:
            raise InvalidInput("NextToken is not valid")
    page = rows[start:start + max_results]
    token = encode_token({"at": start + max_results}) if start + max_results < len(rows) else None
    return [_metadata(r) for r in page], token


def tags_of(conn: Connection, arn: str) -> dict[str, str] | None:
    row = conn.execute(select(R.c.tags).where(R.c.arn == arn)).first()
    return None if row is None else loads(row[0])
