"""The store's side of the rest of the findings family: GetFindingHistory, UpdateFindings,
action targets (custom actions), resource tags and GetFindingsV2.

A mixin of `SqlHubStore` (which supplies `_read`, `_write`, `account_id`, `region`): each
method is one transaction, every change audited in it. Per-account things (action targets)
take `partition` (None: the store's own account and region).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from sqlalchemy import and_

from secpipe.hub import actions, audit, history, tags
from secpipe.hub.authz import Principal
from secpipe.hub.common import loads
from secpipe.hub.interface import InvalidInput, Partition, ResourceNotFound
from secpipe.hub.schema import findings as F

MAX_ACTION_FINDINGS = 100


class FindingsFamily:
    """History, legacy updates, action targets, tags and the OCSF query of the hub store."""

    account_id: str
    region: str

    def _partition(self, partition: Partition | None) -> Partition:
        return partition or Partition(self.account_id, self.region)

    def _findings_in(self, partition: Partition | None) -> Any:
        """The condition keeping findings to a partition, where the findings table keeps
        them apart (its hub_account and hub_region columns); None where it does not."""
        if "hub_account" not in F.c or "hub_region" not in F.c:
            return None
        part = self._partition(partition)
        return and_(F.c.hub_account == part.account, F.c.hub_region == part.region)

    # --- GetFindingHistory / UpdateFindings ---------------------------------------------------
    def finding_history_records(self, finding_id: str, product_arn: str, *,
                                start: Any = None, end: Any = None, max_results: int = 100,
                                next_token: str | None = None,
                                partition: Partition | None = None
                                ) -> tuple[list[dict[str, Any]], str | None]:
        with self._read() as conn:      # type: ignore[attr-defined]
            return history.records(conn, finding_id, product_arn, start, end, max_results,
                                   next_token, self._findings_in(partition))

    def update_findings(self, filters: Mapping[str, Any], *, note: Any = None,
                        record_state: Any = None, principal: Principal | None = None,
                        actor: str = "secpipe", partition: Partition | None = None) -> int:
        """UpdateFindings (legacy); returns how many findings changed."""
        from secpipe.hub import legacy_update   # imports the query modules: see get_findings_v2

        who = principal.name if principal is not None else actor
        with self._write() as conn:     # type: ignore[attr-defined]
            changed = legacy_update.update(conn, filters, note, record_state, who, principal,
                                           self._findings_in(partition))
            audit.record(conn, principal, "UpdateFindings",
                         detail={"filters": dict(filters), "changed": changed,
                                 "note": note is not None, "record_state": record_state})
            return changed

    # --- action targets ----------------------------------------------------------------------
    def create_action_target(self, name: Any, description: Any, target_id: Any, *,
                             partition: Partition | None = None,
                             principal: Principal | None = None) -> str:
        with self._write() as conn:     # type: ignore[attr-defined]
            arn = actions.create(conn, self._partition(partition), name, description,
                                 target_id)
            audit.record(conn, principal, "CreateActionTarget", [arn],
                         after=audit.digest([name, description]))
            return arn

    def describe_action_targets(self, arns: Sequence[str] | None = None,
                                max_results: int = 100, next_token: str | None = None, *,
                                partition: Partition | None = None
                                ) -> tuple[list[dict[str, Any]], str | None]:
        with self._read() as conn:      # type: ignore[attr-defined]
            return actions.describe(conn, self._partition(partition), arns, max_results,
                                    next_token)

    def update_action_target(self, arn: str, *, name: Any = None, description: Any = None,
                             partition: Partition | None = None,
                             principal: Principal | None = None) -> None:
        with self._write() as conn:     # type: ignore[attr-defined]
            actions.update_(conn, self._partition(partition), arn, name, description)
            audit.record(conn, principal, "UpdateActionTarget", [arn],
                         after=audit.digest([name, description]))

    def delete_action_target(self, arn: str, *, partition: Partition | None = None,
                             principal: Principal | None = None) -> str:
        with self._write() as conn:     # type: ignore[attr-defined]
            out = actions.delete_(conn, self._partition(partition), arn)
            audit.record(conn, principal, "DeleteActionTarget", [arn])
            return out

    def invoke_action_target(self, arn: str, identifiers: Sequence[Mapping[str, str]],
                             sender: Any, *, partition: Partition | None = None,
                             principal: Principal | None = None) -> dict[str, Any]:
        """Send findings to the custom action's channel (`secpipe.hub.custom_action`), then
        audit who sent what where and how it went. Delivery runs outside any transaction."""
        if not identifiers or len(identifiers) > MAX_ACTION_FINDINGS:
            raise InvalidInput(f"name 1-{MAX_ACTION_FINDINGS} findings")
        from sqlalchemy import select

        with self._read() as conn:      # type: ignore[attr-defined]
            row = actions.row(conn, self._partition(partition), arn)
            docs = []
            for ident in identifiers:
                fid, parn = ident.get("Id"), ident.get("ProductArn")
                if not isinstance(fid, str) or not isinstance(parn, str):
                    raise InvalidInput("each finding needs Id and ProductArn")
                scope = self._findings_in(partition)
                found = conn.execute(select(F.c.doc).where(
                    F.c.id == fid, F.c.product_arn == parn,
                    *([] if scope is None else [scope]))).first()
                if found is None:
                    raise ResourceNotFound(f"finding {fid} not found")
                docs.append(loads(found[0]))
        target = {"Id": row.target_id, "Name": row.name, "Arn": row.arn}
        actor = principal.describe() if principal is not None else "local"
        outcome = sender.send(target, docs, actor)
        with self._write() as conn:     # type: ignore[attr-defined]
            audit.record(conn, principal, "InvokeActionTarget", [d["Id"] for d in docs],
                         detail={"action_target": arn, **outcome.as_json()})
        return outcome.as_json()

    # --- tags ---------------------------------------------------------------------------------
    def tag_resource(self, arn: Any, new_tags: Any, *,
                     principal: Principal | None = None) -> None:
        with self._write() as conn:     # type: ignore[attr-defined]
            tags.tag(conn, arn, new_tags)
            audit.record(conn, principal, "TagResource", [str(arn)],
                         detail={"keys": sorted(new_tags)})

    def untag_resource(self, arn: Any, keys: Any, *,
                       principal: Principal | None = None) -> None:
        with self._write() as conn:     # type: ignore[attr-defined]
            tags.untag(conn, arn, keys)
            audit.record(conn, principal, "UntagResource", [str(arn)],
                         detail={"keys": list(keys)})

    def list_tags(self, arn: Any) -> dict[str, str]:
        with self._read() as conn:      # type: ignore[attr-defined]
            return tags.list_(conn, arn)

    # --- GetFindingsV2 -------------------------------------------------------------------------
    def get_findings_v2(self, filters: Any = None, sort: Any = None, max_results: int = 100,
                        next_token: str | None = None, scopes: Any = None, *,
                        partition: Partition | None = None
                        ) -> tuple[list[dict[str, Any]], str | None]:
        # imported here: it imports the GetFindings query modules (~15 ms), which a run's
        # recording never needs (see store.py)
        from secpipe.hub import findings_v2

        with self._read() as conn:      # type: ignore[attr-defined]
            return findings_v2.page(conn, filters, sort, max_results, next_token, scopes,
                                    self._findings_in(partition))
