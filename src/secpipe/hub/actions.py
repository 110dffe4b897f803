"""Custom actions (Security Hub's action targets), kept per account and region.

In Security Hub a custom action is a name and an ARN; choosing it on a finding sends the
finding to EventBridge, where a rule routes it on. The hub has no EventBridge: choosing an
action sends the finding to the notification rule of secpipe.yml whose `name` equals the
action target's Id (see `secpipe.hub.custom_action`). The store side here is only the
CRUD, with Security Hub's rules: Id up to 20 alphanumeric characters and unique per account
and region (ResourceConflict), Name up to 20 characters, a Description, and at most
`MAX_ACTION_TARGETS` per account and region (LimitExceeded).
"""

from __future__ import annotations

import re
from typing import Any, Sequence

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection

from secpipe.hub.common import bad_text, now, seq_page
from secpipe.hub.interface import (InvalidInput, LimitExceeded, Partition, ResourceConflict,
                                   ResourceNotFound)
from secpipe.hub.schema import action_targets as A

# Security Hub's quota of custom actions per account and region: 50, not adjustable ("Number
# of custom actions", AWS General Reference, "AWS Security Hub endpoints and quotas",
# https://docs.aws.amazon.com/general/latest/gr/sechub.html; checked 2026-12-06).
MAX_ACTION_TARGETS = 50
_ID = re.compile(r"^[A-Za-z0-9]{1,20}$")
MAX_DESCRIPTION = 256


def arn_of(partition: Partition, target_id: str) -> str:
    return (f"arn:aws:securityhub:{partition.region}:{partition.account}:action/custom/"
            f"{target_id}")


def _text(value: Any, what: str, limit: int, required: bool) -> str | None:
    if value is None:
        if required:
            raise InvalidInput(f"{what} is required")
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit \
            or bad_text(value):
        raise InvalidInput(f"{what} must be 1-{limit} characters, not blank")
    return value


def create(conn: Connection, partition: Partition, name: Any, description: Any,
           target_id: Any) -> str:
    _text(name, "Name", 20, True)
    _text(description, "Description", MAX_DESCRIPTION, True)
    if not isinstance(target_id, str) or not _ID.match(target_id):
        raise InvalidInput("Id must be 1-20 alphanumeric characters")
    arn = arn_of(partition, target_id)
    if conn.execute(select(A.c.seq).where(A.c.arn == arn)).first() is not None:
        raise ResourceConflict(f"An action target with Id {target_id} already exists")
    count = conn.execute(select(func.count()).select_from(A).where(
        A.c.hub_account == partition.account, A.c.hub_region == partition.region)).scalar_one()
    if count >= MAX_ACTION_TARGETS:
        raise LimitExceeded(f"You have reached the quota of {MAX_ACTION_TARGETS} custom "
                            "actions in this account and Region; delete one first")
    conn.execute(insert(A).values(arn=arn, hub_account=partition.account,
                                  hub_region=partition.region, target_id=target_id, name=name,
                                  description=description, created_at=now()))
    return arn


def _shape(row: Any) -> dict[str, Any]:
    return {"ActionTargetArn": row.arn, "Name": row.name, "Description": row.description}


def row(conn: Connection, partition: Partition, arn: str) -> Any:
    """The stored action target; ResourceNotFound when it is not in this account and region."""
    found = conn.execute(select(A).where(A.c.arn == arn, A.c.hub_account == partition.account,
                                         A.c.hub_region == partition.region)).first()
    if found is None:
        raise ResourceNotFound(f"Action target {arn} not found")
    return found


def describe(conn: Connection, partition: Partition, arns: Sequence[str] | None,
             max_results: int, next_token: str | None
             ) -> tuple[list[dict[str, Any]], str | None]:
    """DescribeActionTargets: the named ones (each must exist), or a page of all."""
    if arns:
        return [_shape(row(conn, partition, a)) for a in arns], None
    q = (select(A).where(A.c.hub_account == partition.account,
                         A.c.hub_region == partition.region).order_by(A.c.seq))
    rows, token = seq_page(conn, q, A.c.seq, max_results, next_token)
    return [_shape(r) for r in rows], token


def update_(conn: Connection, partition: Partition, arn: str, name: Any,
            description: Any) -> None:
    row(conn, partition, arn)
    values = {k: v for k, v in (("name", _text(name, "Name", 20, False)),
                                ("description", _text(description, "Description",
                                                      MAX_DESCRIPTION, False)))
              if v is not None}
    if values:
        conn.execute(update(A).where(A.c.arn == arn).values(**values))


def delete_(conn: Connection, partition: Partition, arn: str) -> str:
    row(conn, partition, arn)
    conn.execute(delete(A).where(A.c.arn == arn))
    return arn
