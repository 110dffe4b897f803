"""The store's writing paths for findings: BatchImportFindings, the pipeline's bulk import and
a run's recording (a mixin of `SqlHubStore`).

All three judge findings with `importer.check_all` outside the write lock (the hub's stored
digests and UpdatedAt read first, for the unchanged re-import shortcut) and write them with
`importer.write` inside it; `bulk_import` overlaps the checks of the next part with the write
of this one (`overlap`), and trusts the checks' key lookup where `freshness` proves it holds.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any, Iterable, Mapping, Sequence

from sqlalchemy import func, select
from sqlalchemy.pool import StaticPool

from secpipe.hub import (audit, freshness, gcpause, groupcommit, import_rules, importer, overlap,
                         run_refresh, runs, subscriptions)
from secpipe.hub.authz import Principal
from secpipe.hub.interface import (ImportResult, InvalidInput, LimitExceeded, Partition,
                                   RunDiff, RunRecord)
from secpipe.hub.schema import findings as F

MAX_IMPORT_FINDINGS = 100
MAX_IMPORT_BYTES = 6 * 1024 * 1024


class FindingsImport:
    """BatchImportFindings, `bulk_import` and `record_run` on the host store's `_read`,
    `_write`, `_part`, `engine`, `dialect` and `policy`."""

    # --- BatchImportFindings --------------------------------------------------------------
    def batch_import(self, findings: Sequence[Mapping[str, Any]], *,
                     principal: Principal | None = None,
                     partition: Partition | None = None,
                     request_bytes: int | None = None) -> ImportResult:
        """BatchImportFindings with Security Hub's limits: more than 100 findings is
        InvalidInput and more than 6 MB LimitExceeded, for the whole call. `principal` (None:
        the local caller) is held to `import_rules` and named in the audit trail.
        `request_bytes`: the size of the request as received (the API's HTTP body), which is
        what the 6 MB limit measures; None measures the findings as compact JSON."""
        if not isinstance(findings, Sequence) or isinstance(findings, (str, bytes)):
            raise InvalidInput("Findings must be a list")
        if len(findings) > MAX_IMPORT_FINDINGS:
            raise InvalidInput(f"at most {MAX_IMPORT_FINDINGS} findings per BatchImportFindings")
        # The request's size from the documents the checks serialise anyway (an upper bound);
        # only when that bound is over the limit is every finding serialised to be exact.
        sizes: list[int | None] = []
        part = self._part(partition)
        checked = self._check(findings, sizes, part)
        if request_bytes is not None:
            if request_bytes > MAX_IMPORT_BYTES:
                raise LimitExceeded("a BatchImportFindings request may carry at most 6 MB")
            return self._import(findings, checked, principal, part)[0]
        for bounds in (sizes, [None] * len(findings)):
            try:
                size = importer.request_size(findings, bounds)
            except (TypeError, ValueError, RecursionError) as exc:
                raise InvalidInput(f"Findings are not JSON: {str(exc)[:200]}") from None
            if size <= MAX_IMPORT_BYTES:
                return self._import(findings, checked, principal, part)[0]
        raise LimitExceeded("a BatchImportFindings request may carry at most 6 MB")

    def bulk_import(self, findings: Iterable[Mapping[str, Any]], batch_size: int = 5000, *,
                    partition: Partition | None = None) -> ImportResult:
        """The pipeline's fast path: same semantics, no per-call limit, one transaction per
        `batch_size` findings (an iterable is consumed lazily, so memory stays flat)."""
        total = ImportResult()
        created = 0
        # Checking the next part (pure Python) overlaps writing this one: the database driver
        # releases the GIL while SQLite or PostgreSQL does the work (see `overlap`).
        shared = isinstance(self.engine.pool, StaticPool)      # one connection: no overlap
        part = self._part(partition)
        # when the checks' key lookup still holds under the lock (no second lookup)
        fresh = freshness.Freshness(self.dialect == "sqlite" and not shared)

        def check(chunk: Sequence[Any]) -> tuple[list[importer.Checked], list[dict], int]:
            seen = fresh.generation()
            # side rows are not built ahead (check_all side=True): on a calm machine that cost
            # ~6% more CPU at 10k (binding, GIL hand-offs) and gained no wall time
            return (*self._check(chunk, None, part), seen)

        # one connection for every transaction (data_version is per connection); the
        # cyclic GC waits meanwhile (it found nothing to free, for ~8% of the CPU)
        with gcpause.paused(), self.engine.connect() if fresh.enabled else nullcontext() as held:
            for parts in overlap.checked_batches(findings, batch_size, check,
                                                 threaded=not shared):
                with self._write(held) as conn:
                    raw = conn.connection.driver_connection
                    fresh.begin(raw)
                    good_n = failed_n = 0
                    for good, failed, seen in parts:
                        good, off = subscriptions.screen(conn, good, part.account, part.region)
                        failed = failed + off
                        written = importer.write(conn, good, partition=part,
                                                 trusted=fresh.trusted(seen))
                        fresh.wrote(written.touched)
                        created += written.created
                        good_n += len(good)
                        failed_n += len(failed)
                        total.success_count += len(good) - len(written.failed)
                        total.failed.extend(failed + written.failed)
                    audit.record(conn, None, "BulkImport", detail={"findings": good_n,
                                                                    "failed": failed_n})
                    fresh.end(raw)
        self._refresh_stats(created)
        return total

    def _check(self, chunk: Sequence[Any], sizes: list[int | None] | None = None,
               partition: Partition | None = None, side: bool = False
               ) -> tuple[list[importer.Checked], list[dict]]:
        """`importer.check_all` with what the hub stores for these keys (read before the write
        lock is taken; `importer.write` confirms it under the lock)."""
        with self._read() as conn:
            stored = importer.known(conn, chunk, self._part(partition))
        return importer.check_all(chunk, stored, sizes, self.policy.future_skew, side=side)

    def _import(self, chunk: Sequence[Any], checked: tuple | None = None,
                principal: Principal | None = None, partition: Partition | None = None
                ) -> tuple[ImportResult, importer.WriteResult]:
        part = self._part(partition)
        good, failed = checked or self._check(chunk, None, part)

        def work(conn: Any) -> tuple[ImportResult, importer.WriteResult]:
            return self._import_in(conn, good, failed, principal, part)

        # concurrent calls of this process share one transaction (see `groupcommit`)
        return groupcommit.of(self).run(work)

    def _import_in(self, conn: Any, good: list[importer.Checked], failed: list[dict],
                   principal: Principal | None, part: Partition
                   ) -> tuple[ImportResult, importer.WriteResult]:
        """One BatchImportFindings call's writes and audit row, in the write transaction."""
        good, denied = import_rules.screen(conn, principal, good, part)
        good, off = subscriptions.screen(conn, good, part.account, part.region, principal)
        denied += off
        keys_ = [it.key for it in good]
        before = audit.findings_state(conn, keys_)
        written = importer.write(conn, good, partition=part,
                                 actor=principal.name if principal else "import")
        # nothing created or rewritten (an unchanged re-import): the state is `before`
        after = before if not (written.created or written.updated) else \
            audit.findings_state(conn, keys_)
        audit.record(conn, principal, "BatchImportFindings", [k[0] for k in keys_],
                     before=before, after=after,
                     detail={"created": written.created, "updated": written.updated,
                             "failed": len(failed) + len(denied) + len(written.failed),
                             audit.STATE_KEY: audit.STATE_VERSION})
        return ImportResult(success_count=len(good) - len(written.failed),
                            failed=failed + denied + written.failed), written

    def _refresh_stats(self, created: int) -> None:
        """Planner statistics after a bulk load that changed the table's size noticeably.
        SQLite: below ~50k findings every plan is fast enough and ANALYZE would cost more.
        PostgreSQL samples (ANALYZE is cheap) and plans from statistics alone: a table loaded
        before autovacuum's next round ran GetFindings pages 20x slower (10k findings)."""
        if created < (50000 if self.dialect == "sqlite" else 1000):
            return
        with self._read() as conn:
            rows = conn.execute(select(func.max(F.c.pk))).scalar() or 0
        if created * 5 < rows:
            return
        with self.engine.connect() as conn:
            if self.dialect == "sqlite":
                conn.exec_driver_sql("PRAGMA analysis_limit=2000")
                conn.exec_driver_sql("ANALYZE")
            else:
                conn.exec_driver_sql("ANALYZE")
            conn.commit()

    # --- runs --------------------------------------------------------------------------------
    def record_run(self, run: RunRecord, findings: Sequence[Mapping[str, Any]], *,
                   base_branch: str | None = None, batch_size: int = 5000,
                   principal: Principal | None = None) -> RunDiff:
        """Import a run's findings and record it, atomically; see `secpipe.hub.runs`.

        Findings that fail the per-finding checks (or `import_rules` for `principal`) are not
        observed; they come back in `RunDiff.failed` (same shape as FailedFindings). Whether
        `principal` may write this repo/branch at all is the caller's check
        (`authz.may_write_run`), made before the findings are even read."""
        runs.check_run(run)
        good, failed = self._check(findings, None, self.partition)
        actor = f"{principal.name} run {run.run_id}" if principal else f"run {run.run_id}"
        with self._write() as conn:
            good, denied = import_rules.screen(conn, principal, good, self.partition)
            failed += denied
            good, off = subscriptions.screen(conn, good, self.account_id, self.region, principal)
            failed += off
            observed: dict[int, tuple[str, str]] = {}
            for i in range(0, len(good), batch_size):
                chunk = good[i:i + batch_size]
                # a re-run's unchanged findings: a narrow update (same stored result)
                pks, rest = run_refresh.refresh(conn, chunk, self.partition)
                written = importer.write(conn, rest, actor=actor, run_id=run.run_id,
                                         partition=self.partition)
                pks.update(written.pks)
                failed += written.failed
                for item in chunk:
                    pk = pks.get(item.key)
                    if pk is not None:
                        observed.setdefault(pk, runs.stage_tool(importer.as_stored(item)))
            result = runs.record(conn, run, observed, base_branch, principal, self.policy)
            audit.record(conn, principal, "RecordRun", [run.run_id],
                         after=audit.digest([result.new, result.recurring, result.fixed]),
                         detail={"repo": run.repo, "branch": run.branch,
                                 "base_branch": base_branch, "new": len(result.new),
                                 "recurring": len(result.recurring),
                                 "fixed": len(result.fixed)})
        result.failed = failed
        return result
