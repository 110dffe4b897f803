"""The store's account and region side: its own partition, the subscription per partition
(Enable/Disable/DescribeHub), and what opening a hub settles (its remembered account, the
first-start enablement). A mixin of `SqlHubStore` (which supplies `_read`, `_write`,
`account_id`, `region`); see `secpipe.hub.partitions` and `secpipe.hub.subscription`."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Callable, Mapping

from sqlalchemy.engine import Connection

from secpipe.hub import audit, partitions, subscription
from secpipe.hub.authz import Principal
from secpipe.hub.interface import Partition


def settle(store: Any, account_id: str | None) -> None:
    """The hub's remembered account, and its first-start enablement (see `subscription`);
    the write lock only when something is to be written (most opens only read)."""
    with store._read() as conn:
        stored = partitions.setting(conn, partitions.ACCOUNT_KEY)
        if account_id is None or account_id == stored:
            store.account_id = stored or partitions.DEFAULT.account
            if subscription.started(conn, store.partition):
                return
    with store._write() as conn:
        store.account_id = partitions.settle_account(conn, account_id)
        subscription.ensure_default(conn, store.partition)


class Subscription:
    """The partition and subscription methods of the hub store."""

    account_id: str
    region: str
    _read: Callable[[], AbstractContextManager[Connection]]
    _write: Callable[[], AbstractContextManager[Connection]]

    @property
    def partition(self) -> Partition:
        """The store's own account and region: what `partition=None` means."""
        return Partition(self.account_id, self.region)

    def _part(self, partition: Partition | None) -> Partition:
        return partition if partition is not None else self.partition

    def enable_hub(self, tags: Mapping[str, str] | None = None, *,
                   auto_enable_controls: bool = True, principal: Principal | None = None,
                   partition: Partition | None = None) -> None:
        part = self._part(partition)
        with self._write() as conn:
            arn = subscription.enable(conn, part, tags, auto_enable_controls)
            audit.record(conn, principal, "EnableSecurityHub", [arn],
                         after=audit.digest(tags or {}))

    def disable_hub(self, *, principal: Principal | None = None,
                    partition: Partition | None = None) -> None:
        """DisableSecurityHub; the partition's findings stay stored (see `subscription`)."""
        part = self._part(partition)
        with self._write() as conn:
            subscription.disable(conn, part)
            audit.record(conn, principal, "DisableSecurityHub", [subscription.hub_arn(part)])

    def describe_hub(self, *, partition: Partition | None = None) -> dict[str, Any]:
        with self._read() as conn:
            return subscription.describe(conn, self._part(partition))

    def is_subscribed(self, partition: Partition | None = None) -> bool:
        with self._read() as conn:
            return subscription.subscribed(conn, self._part(partition))
