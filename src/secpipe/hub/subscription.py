"""Security Hub's subscription per account and region: EnableSecurityHub, DisableSecurityHub,
DescribeHub, and the InvalidAccessException every other Security Hub call answers in a
partition where the hub is not enabled.

One `hub` row per enabled partition; its key is the hub ARN
(`arn:aws:securityhub:{region}:{account}:hub/default`), which names the partition. The
configured partition is enabled once, when a store is first opened with it (`ensure_default`),
so the local default just works; `hub_settings` remembers that it was, so a DisableSecurityHub
of it sticks across restarts.

The API asks before every Security Hub operation except EnableSecurityHub
(`secpipe.hub.api.subscribed`); `Subscriptions` remembers answers for `TTL` seconds (a hub served by several processes
sees another process's DisableSecurityHub within that time; its own at once).
"""

from __future__ import annotations

import threading
import time
from typing import Any, Mapping

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Connection

from secpipe.hub import partitions
from secpipe.hub.common import dumps, iso_ms, now
from secpipe.hub.interface import InvalidAccess, InvalidInput, Partition, ResourceConflict
from secpipe.hub.schema import hub as H

TTL = 1.0


def hub_arn(partition: Partition) -> str:
    return f"arn:aws:securityhub:{partition.region}:{partition.account}:hub/default"


def not_subscribed(partition: Partition) -> InvalidAccess:
    """Security Hub's own answer (HTTP 401) in a partition where it is not enabled."""
    return InvalidAccess(f"Account {partition.account} is not subscribed to AWS Security Hub")


def subscribed(conn: Connection, partition: Partition) -> bool:
    return conn.execute(select(H.c.hub_arn).where(H.c.hub_arn == hub_arn(partition))
                        ).first() is not None


def enable(conn: Connection, partition: Partition, tags: Mapping[str, str] | None,
           auto_enable_controls: bool = True) -> str:
    """EnableSecurityHub: a second call answers ResourceConflict, as Security Hub does."""
    if tags is not None and (not isinstance(tags, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in tags.items())):
        raise InvalidInput("Tags must map strings to strings")
    partitions.check_region(partition.region)
    partitions.check_account(partition.account)
    if subscribed(conn, partition):
        raise ResourceConflict("Account is already subscribed to Security Hub")
    arn = hub_arn(partition)
    conn.execute(insert(H).values(hub_arn=arn, subscribed_at=now(),
                                  auto_enable_controls=auto_enable_controls,
                                  tags=dumps(dict(tags or {}))))
    return arn


def disable(conn: Connection, partition: Partition) -> None:
    """DisableSecurityHub: InvalidAccess when it is not enabled. The partition's findings and
    insights are kept (Security Hub removes them later; re-enabling here shows them again)."""
    if not subscribed(conn, partition):
        raise not_subscribed(partition)
    conn.execute(delete(H).where(H.c.hub_arn == hub_arn(partition)))


def describe(conn: Connection, partition: Partition) -> dict[str, Any]:
    """DescribeHub; InvalidAccess before EnableSecurityHub, as in Security Hub."""
    row = conn.execute(select(H).where(H.c.hub_arn == hub_arn(partition))).first()
    if row is None:
        raise not_subscribed(partition)
    return {"HubArn": row.hub_arn, "SubscribedAt": iso_ms(row.subscribed_at),
            "AutoEnableControls": bool(row.auto_enable_controls),
            "ControlFindingGenerator": "SECURITY_CONTROL"}


def _marker(partition: Partition) -> str:
    return f"{partitions.ENABLED_KEY}:{partition.account}:{partition.region}"


def started(conn: Connection, partition: Partition) -> bool:
    """Was the store opened with this account and region before (`ensure_default` ran)?"""
    return partitions.setting(conn, _marker(partition)) is not None


def ensure_default(conn: Connection, partition: Partition) -> bool:
    """Enable the configured partition the first time a store is opened with it (once per
    account and region, so a later DisableSecurityHub sticks); True if it did."""
    if started(conn, partition):
        return False
    partitions.put_setting(conn, _marker(partition), now())
    if subscribed(conn, partition):
        return False
    enable(conn, partition, None)
    return True


class Subscriptions:
    """Which partitions are enabled, as the API asks before each call (see the module)."""

    def __init__(self, ttl: float = TTL) -> None:
        self.ttl = ttl
        self._known: dict[Partition, tuple[bool, float]] = {}
        self._lock = threading.Lock()

    def cached(self, partition: Partition) -> bool | None:
        with self._lock:
            hit = self._known.get(partition)
        if hit is None or time.monotonic() - hit[1] > self.ttl:
            return None
        return hit[0]

    def remember(self, partition: Partition, enabled: bool) -> None:
        with self._lock:
            if len(self._known) > 4096:
                self._known.clear()
            self._known[partition] = (enabled, time.monotonic())

    def forget(self, partition: Partition) -> None:
        with self._lock:
            self._known.pop(partition, None)
