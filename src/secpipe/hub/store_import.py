"""The store's writing paths for findings: BatchImportFindings, the pipeline's bulk import and
a run's recording (a mixin of `SqlHubStore`).

All three judge findings with `importer.check_all` outside the write lock (the hub's stored
digests and UpdatedAt read first, for the unchanged re-import shortcut) and write them with
`importer.write` inside it; `bulk_import` overlaps the checks of the next part with the write
of this one (`overlap`), and trusts the checks' key lookup where `freshness` proves it holds.
"""

from __future__ import annotations

from contextlib import nullcontext
from itertools import islice
from typing import Any, Iterable, Mapping, Sequence

from sqlalchemy import func, select
from sqlalchemy.pool import StaticPool

from secpipe import gcpause
from secpipe.hub import (audit, freshness, groupcommit, import_rules, importer, overlap,
                         run_refresh, runs, sqlitebind, subscriptions)
from secpipe.hub.authz import Principal
from secpipe.hub.interface import (ImportResult, InvalidInput, LimitExceeded, Partition,
                                   RunDiff, RunRecord)
from secpipe.hub.schema import findings as F

MAX_IMPORT_FINDINGS = 100
sqlitebind.install()       # NULLs and booleans bound without the driver's adapter search
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

        def lookup(chunk: Sequence[Any]) -> tuple[int, importer.Known]:
            seen = fresh.generation()           # before the read begins
            with self._read() as conn:
                return seen, importer.known(conn, chunk, part)

        def check(chunk: Sequence[Any], looked: tuple[int, importer.Known]
                  ) -> tuple[list[importer.Checked], list[dict], int]:
            seen, stored = looked
            # side rows are not built ahead (check_all side=True): on a calm machine that cost
            # ~6% more CPU at 10k (binding, GIL hand-offs) and gained no wall time
            return (*importer.check_all(chunk, stored, None, self.policy.future_skew), seen)

        # one connection for every transaction (data_version is per connection); the
        # cyclic GC waits meanwhile (it found nothing to free, for ~8% of the CPU)
        with gcpause.paused(), self.engine.connect() if fresh.enabled else nullcontext() as held:
            for parts in overlap.checked_batches(findings, batch_size, check,
                                                 threaded=not shared, lookup=lookup):
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
        good, denied, off = _screen(conn, principal, good, part)
        denied += off
        keys_ = [it.key for it in good]
        state = audit.stored_state(conn, keys_)
        before = audit.state_digest(state.values())
        texts: dict[int, tuple[str, str, str]] = {}
        written = importer.write(conn, good, partition=part,
                                 actor=principal.name if principal else "import", texts=texts)
        # the stored rows as they are now: those read before, with the ones written put in
        # (nothing created or rewritten, an unchanged re-import: the state is `before`)
        after = audit.state_digest(audit.written_state(state, texts).values()) \
            if texts else before
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
    def record_run(self, run: RunRecord, findings: Iterable[Mapping[str, Any]], *,
                   base_branch: str | None = None, batch_size: int = 1000,
                   principal: Principal | None = None) -> RunDiff:
        """Import a run's findings and record it, atomically; see `secpipe.hub.runs`.

        Findings that fail the per-finding checks (or `import_rules` for `principal`) are not
        observed; they come back in `RunDiff.failed` (same shape as FailedFindings). Whether
        `principal` may write this repo/branch at all is the caller's check
        (`authz.may_write_run`), made before the findings are even read.

        `findings` is read once, `batch_size` at a time (an iterator will do), and each part is
        checked, screened and written inside the run's transaction, so only one part's checked
        documents and texts are alive at once: at 50k findings, holding them all cost ~270 MB.
        Parts of 2,000 rather than 5,000: 42 MB less at the peak of recording 10k findings
        (+88 MB against +130 MB), and no more CPU in three alternated rounds (2.64-3.15 s
        against 2.76-3.23 s). Parts of 1,000 rather than 2,000 once the pipeline's documents
        were built as the parts take them: a part's documents and texts (~10 MB of
        tracemalloc at 2,000) were then most of what the recording added, and a run's own CPU
        at 5,000 findings stayed the same (`bench/own_cpu_ab.py`, 5 rounds: ratio 1.00).
        The result is the one checking everything first gave for the same `batch_size`: one
        ProcessedAt and one clock for the whole run (`importer.run_clock`), writes in parts of
        `batch_size` accepted findings, FailedFindings in the same order (`_RunRefusals`).
        Where parts matter at all is a key sent twice in one run: within a part the newer
        copy (the later on a tie) wins, across parts the first stays unless the later is
        newer; and, here only, the second part is screened by `import_rules` against what
        the first part stored (as two BatchImportFindings calls would be), where checking
        the whole run first saw it absent. The checks now run under the write lock; the
        pipeline's local hub has no other writer."""
        runs.check_run(run)
        part = self.partition
        actor = f"{principal.name} run {run.run_id}" if principal else f"run {run.run_id}"
        clock = importer.run_clock(self.policy.future_skew)
        refused = _RunRefusals()
        observed: dict[int, tuple[str, str]] = {}
        pending: list[importer.Checked] = []
        source = iter(findings)
        # The hash of every key this run has written so far. A part's key lookup
        # (`run_refresh.lookup`) runs in this same transaction, so what it found still holds
        # for a key not written since (`written` holds every key written before it as well:
        # a superset, never too few): the writes then neither look such a key up again nor
        # read a row the lookup found absent (`importer.write`'s and `run_refresh.refresh`'s
        # `trusted`). Hashes, not the keys: the keys kept every document's Id and ProductArn
        # alive to the end of the recording (~9 MB at 50k findings); a key whose hash
        # collides with a written one is merely not trusted, and looked up again.
        written: set[int] = set()
        # the stored rows the parts' lookups read for the narrow update of unchanged findings
        # (`run_refresh.lookup`), kept for the keys still pending
        looked: dict[tuple[str, str], tuple] = {}

        def trusted(key: tuple[str, str]) -> bool:
            return hash(key) not in written

        # one (stage, tool) tuple per pair for `observed`'s 50,000 values, not one per finding
        pairs: dict[tuple[str, str], tuple[str, str]] = {}
        # the checked documents' texts as orjson's UTF-8 bytes, stored as SQLite text
        # without a decode and the driver's encode back (`importer.check_all`'s utf8)
        utf8 = self.dialect == "sqlite"

        # the cyclic GC waits meanwhile, as in `bulk_import`: the parts' documents, checks and
        # rows hold no cycle (and the pipeline's findings files are written from the
        # documents as they are read, `outputs.ocsf.FindingsFiles`)
        with gcpause.paused(), self._write() as conn:
            def write(chunk: list[importer.Checked]) -> None:
                # a re-run's unchanged findings: a narrow update (same stored result)
                pks, rest = run_refresh.refresh(conn, chunk, part, trusted, looked)
                for item in chunk:
                    looked.pop(item.key, None)
                done = importer.write(conn, rest, actor=actor, run_id=run.run_id,
                                      partition=part, trusted=trusted)
                written.update(map(hash, pks))
                written.update(map(hash, done.touched))
                pks.update(done.pks)
                refused.written += done.failed
                for item in chunk:
                    pk = pks.get(item.key)
                    if pk is not None and pk not in observed:
                        pair = runs.stage_tool(importer.as_stored(item))
                        observed[pk] = pairs.setdefault(pair, pair)

            while batch := list(islice(source, max(1, batch_size))):
                # what the hub stores for these keys, as the write transaction sees it
                stored, rows = run_refresh.lookup(conn, batch, part)
                good, failed = importer.check_all(batch, stored, None, self.policy.future_skew,
                                                  clock=clock, utf8=utf8)
                looked.update(rows)
                refused.checks += failed
                good, denied, off = _screen(conn, principal, good, part)
                refused.denied += denied
                refused.off += off
                pending += good
                if len(looked) > len(pending):      # rows of refused findings: not needed
                    keep = {it.key for it in pending}
                    looked = {k: v for k, v in looked.items() if k in keep}
                del batch, stored, good, rows
                while len(pending) >= batch_size:
                    write(pending[:batch_size])
                    del pending[:batch_size]
            if pending:
                write(pending)
            del pending
            result = runs.record(conn, run, observed, base_branch, principal, self.policy)
            audit.record(conn, principal, "RecordRun", [run.run_id],
                         after=runs.diff_digest(result),
                         detail={"repo": run.repo, "branch": run.branch,
                                 "base_branch": base_branch, "new": len(result.new),
                                 "recurring": len(result.recurring),
                                 "fixed": len(result.fixed)})
        result.failed = refused.in_order()
        return result


def _screen(conn: Any, principal: Principal | None, good: list[importer.Checked],
            part: Partition) -> tuple[list[importer.Checked], list[dict], list[dict]]:
    """The two screens every import passes under the write lock, in their order: what
    `import_rules` lets `principal` write, then what the partition's product subscriptions
    take in. Returns the survivors and each screen's refusals apart (a run reports them in
    that order, a call as one list)."""
    good, denied = import_rules.screen(conn, principal, good, part)
    good, off = subscriptions.screen(conn, good, part.account, part.region, principal)
    return good, denied, off


class _RunRefusals:
    """A run's FailedFindings, kept apart by cause while its parts are written, and given in
    the order of checking the whole run before writing any of it: every finding that failed
    the checks, then those `import_rules` denied, those `subscriptions` turned away, and those
    the writes refused (each in the findings' order)."""

    __slots__ = ("checks", "denied", "off", "written")

    def __init__(self) -> None:
        self.checks: list[dict[str, str]] = []
        self.denied: list[dict[str, str]] = []
        self.off: list[dict[str, str]] = []
        self.written: list[dict[str, str]] = []

    def in_order(self) -> list[dict[str, str]]:
        return self.checks + self.denied + self.off + self.written
