"""Custom insights (saved filters with a grouping), kept per account and region.

Every call takes the partition (`secpipe.hub.interface.Partition`) it addresses: an insight of
another region is not found, and the quota counts the partition's own. The subscription
record (EnableSecurityHub, DescribeHub) lives in `secpipe.hub.subscription`.

An insight stores its Filters as given; they are checked with the GetFindings filter builder
when created or updated, so GetInsightResults never meets a filter it cannot run.
"""

from __future__ import annotations

import uuid
from typing import Any, Mapping, Sequence

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.sql import ColumnElement

from secpipe.hub import pages, partitions, query
from secpipe.hub.common import dumps, loads, now, seq_page
from secpipe.hub.interface import InvalidInput, LimitExceeded, Partition, ResourceNotFound
from secpipe.hub.schema import insights as I

MAX_CUSTOM_INSIGHTS = 100  # Security Hub's quota of custom insights per account and region


def _check(conn: Connection, name: Any, filters: Any, group_by: Any) -> None:
    if name is not None and (not isinstance(name, str) or not 1 <= len(name) <= 128):
        raise InvalidInput("Name must be 1-128 characters")
    if filters is not None:
        if not isinstance(filters, Mapping):
            raise InvalidInput("Filters must be an object")
        query.where_clause(filters, conn.dialect.name)   # raises InvalidInput when bad
    if group_by is not None and group_by not in pages.GROUPABLE \
            and not str(group_by).startswith("ProductFields."):
        raise InvalidInput(f"{group_by!r} is not a valid GroupByAttribute")


def _shape(row) -> dict[str, Any]:
    return {"InsightArn": row.arn, "Name": row.name, "Filters": loads(row.filters),
            "GroupByAttribute": row.group_by}


def create(conn: Connection, region: str, account: str, name: str,
           filters: Mapping[str, Any], group_by: str) -> str:
    _check(conn, name, filters, group_by)
    if name is None or group_by is None:
        raise InvalidInput("Name and GroupByAttribute are required")
    mine = partitions.insights_in(Partition(account, region))
    if conn.execute(select(func.count()).select_from(I).where(mine)
                    ).scalar_one() >= MAX_CUSTOM_INSIGHTS:
        raise LimitExceeded(f"You have reached the quota of {MAX_CUSTOM_INSIGHTS} custom "
                            "insights; delete one before creating another")
    arn = f"arn:aws:securityhub:{region}:{account}:insight/{account}/custom/{uuid.uuid4()}"
    conn.execute(insert(I).values(arn=arn, name=name, filters=dumps(dict(filters or {})),
                                  group_by=group_by, created_at=now(), hub_account=account,
                                  hub_region=region))
    return arn


def _row(conn: Connection, arn: str, partition: Partition | None = None):
    q = select(I).where(I.c.arn == arn)
    if partition is not None:
        q = q.where(partitions.insights_in(partition))
    row = conn.execute(q).first()
    if row is None:
        raise ResourceNotFound(f"insight {arn} not found")
    return row


def get(conn: Connection, arns: Sequence[str] | None, max_results: int,
        next_token: str | None, partition: Partition | None = None
        ) -> tuple[list[dict[str, Any]], str | None]:
    if isinstance(max_results, bool) or not isinstance(max_results, int) \
            or not 1 <= max_results <= 100:
        raise InvalidInput("MaxResults must be between 1 and 100")
    if arns:
        return [_shape(_row(conn, arn, partition)) for arn in arns], None
    q = select(I).order_by(I.c.seq)
    if partition is not None:
        q = q.where(partitions.insights_in(partition))
    rows, token = seq_page(conn, q, I.c.seq, max_results, next_token)
    return [_shape(r) for r in rows], token


def results(conn: Connection, arn: str, partition: Partition | None = None,
            scope: ColumnElement | None = None) -> dict[str, Any]:
    """`scope`: which findings count (`partitions.visible`: the partition, the caller's
    member accounts)."""
    row = _row(conn, arn, partition)
    values = pages.group_counts(conn, row.group_by, loads(row.filters), scope=scope)
    return {"InsightArn": arn, "GroupByAttribute": row.group_by, "ResultValues": values}


def update_(conn: Connection, arn: str, name: str | None, filters: Mapping[str, Any] | None,
            group_by: str | None, partition: Partition | None = None) -> None:
    _row(conn, arn, partition)
    _check(conn, name, filters, group_by)
    values: dict[str, Any] = {}
    if name is not None:
        values["name"] = name
    if filters is not None:
        values["filters"] = dumps(dict(filters))
    if group_by is not None:
        values["group_by"] = group_by
    if values:
        conn.execute(update(I).where(I.c.arn == arn).values(**values))


def delete_(conn: Connection, arn: str, partition: Partition | None = None) -> str:
    _row(conn, arn, partition)
    conn.execute(delete(I).where(I.c.arn == arn))
    return arn
