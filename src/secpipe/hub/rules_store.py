"""The store's automation-rule and hub-suppression methods (a mixin of `SqlHubStore`).

Kept apart from store.py so the rules are one module's business: each method is one
transaction (writes under the hub's write lock) with its audit row, over `secpipe.hub.rules`
and `secpipe.hub.suppressed`.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import datetime, timezone
from typing import Any, Callable, Mapping, Sequence

from sqlalchemy import select
from sqlalchemy.engine import Connection

from secpipe.hub import audit, rules, suppressed
from secpipe.hub.authz import Principal
from secpipe.hub.interface import Partition
from secpipe.hub.schema import automation_rules as R


class RulesStore:
    """Needs `_read`, `_write`, `account_id` and `region` from the store it is mixed into."""

    account_id: str
    region: str
    _read: Callable[[], AbstractContextManager[Connection]]
    _write: Callable[[], AbstractContextManager[Connection]]

    def _partition(self, partition: Partition | None) -> Partition:
        return partition or Partition(self.account_id, self.region)

    def create_automation_rule(self, request: Mapping[str, Any], *,
                               partition: Partition | None = None,
                               principal: Principal | None = None) -> str:
        with self._write() as conn:
            arn = rules.create(conn, self._partition(partition), request, principal)
            audit.record(conn, principal, "CreateAutomationRule", [arn],
                         after=audit.digest(dict(request)))
            return arn

    def batch_get_automation_rules(self, arns: Sequence[str], *,
                                   partition: Partition | None = None
                                   ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        with self._read() as conn:
            return rules.batch_get(conn, self._partition(partition), arns)

    def batch_update_automation_rules(self, items: Sequence[Mapping[str, Any]], *,
                                      partition: Partition | None = None,
                                      principal: Principal | None = None
                                      ) -> tuple[list[str], list[dict[str, Any]]]:
        with self._write() as conn:
            done, missing = rules.batch_update(conn, self._partition(partition), items,
                                               principal)
            if done:
                audit.record(conn, principal, "BatchUpdateAutomationRules", done,
                             after=audit.digest(list(items)))
            return done, missing

    def batch_delete_automation_rules(self, arns: Sequence[str], *,
                                      partition: Partition | None = None,
                                      principal: Principal | None = None
                                      ) -> tuple[list[str], list[dict[str, Any]]]:
        with self._write() as conn:
            done, missing = rules.batch_delete(conn, self._partition(partition), arns)
            if done:
                audit.record(conn, principal, "BatchDeleteAutomationRules", done)
            return done, missing

    def list_automation_rules(self, max_results: int = 100, next_token: str | None = None,
                              *, partition: Partition | None = None
                              ) -> tuple[list[dict[str, Any]], str | None]:
        with self._read() as conn:
            return rules.list_(conn, self._partition(partition), max_results, next_token)

    def has_enabled_rules(self, partition: Partition | None = None) -> bool:
        """Whether any rule could change an import here: the gate skips building its view of
        the run's findings (thousands of ASFF documents) when none can."""
        part = self._partition(partition)
        with self._read() as conn:
            return conn.execute(select(R.c.seq).where(
                R.c.hub_account == part.account, R.c.hub_region == part.region,
                R.c.status == "ENABLED").limit(1)).first() is not None

    def automation_rule_tags(self, arn: str) -> dict[str, str] | None:
        """A rule's tags (None: no such rule), for ListTagsForResource."""
        with self._read() as conn:
            return rules.tags_of(conn, arn)

    # --- the gate's view -----------------------------------------------------------------------
    def hub_suppressions(self, repo: str, *, now: datetime | None = None,
                         reopen_expired: bool = True, principal: Principal | None = None
                         ) -> tuple[list[suppressed.HubSuppression],
                                    list[suppressed.HubSuppression]]:
        """(honoured, expired) suppressions of `repo`'s findings. Honoured: made by a
        principal (or a rule of one) that may triage, not expired. Expired ones are reopened
        (Workflow NEW, in their history) when `reopen_expired`; untrusted ones are left as they
        are and in neither list."""
        when = now or datetime.now(timezone.utc)
        with self._write() as conn:
            found = suppressed.for_repo(conn, repo, self._partition(None))
            expired = [s for s in found if suppressed.expiry_passed(s.expires, when)]
            if expired and reopen_expired:
                suppressed.reopen(conn, expired, self._partition(None))
                audit.record(conn, principal, "ReopenExpiredSuppressions",
                             [s.id for s in expired], detail={"repo": repo})
        gone = {s.id for s in expired}
        return [s for s in found if s.trusted and s.id not in gone], expired

    def rule_suppressions(self, docs: Sequence[Mapping[str, Any]], *,
                          now: datetime | None = None) -> list[suppressed.HubSuppression]:
        """The run's findings (ASFF, before they are recorded) that the hub's automation rules
        will suppress on import, as the gate honours them (see `suppressed.by_rules`)."""
        with self._read() as conn:
            return suppressed.by_rules(conn, [dict(d) for d in docs],
                                       now or datetime.now(timezone.utc),
                                       self._partition(None))
