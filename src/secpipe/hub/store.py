"""The hub store: Security Hub's findings API, runs and keys over SQLite or PostgreSQL.

`open_store` picks the database (a local SQLite file by default), brings its schema to the
latest alembic revision and returns a `SqlHubStore`. Every writing call runs in one
transaction under the hub's write lock (SQLite `BEGIN IMMEDIATE`, a PostgreSQL transaction
advisory lock): writers are serialised, which is what lets the importer read a finding, merge
it with the incoming one and write it back without losing a concurrent triage change, and
assign primary keys itself. Readers never wait for writers (WAL on SQLite, MVCC on
PostgreSQL).
"""

from __future__ import annotations

import os
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

from sqlalchemy import create_engine, event, func, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

from secpipe.hub import (audit, freshness, import_rules, importer, insights, overlap, pages,
                         partitions, query_json, runs, subscriptions, tags, template, updates,
                         writegate)
from secpipe.hub.authz import Policy, Principal
from secpipe.hub.hubsecret import KeyCipher, secret_location
from secpipe.hub.rules_store import RulesStore
from secpipe.hub.store_admin import KeysUsersAudit
from secpipe.hub.store_family import FindingsFamily
from secpipe.hub.store_partitions import Subscription, settle
from secpipe.hub.subscriptions import ProductSubscriptions
from secpipe.hub.common import loads, refuse_nul_parameters
from secpipe.hub.interface import (
    ImportResult,
    InvalidInput,
    LimitExceeded,
    Partition,
    ResourceNotFound,
    RunDiff,
    RunRecord,
    UpdateResult,
)
from secpipe.hub.schema import findings as F

DEFAULT_PATH = Path(".secpipe") / "hub.db"
MAX_IMPORT_FINDINGS = 100
MAX_IMPORT_BYTES = 6 * 1024 * 1024
_PG_WRITE_LOCK = 0x5EC91B0B
_MIGRATIONS = Path(__file__).with_name("migrations")
_VERSION_TABLE = "secpipe_hub_version"


def _url_for(target: str | Path | None) -> tuple[str, Path | None]:
    if target is None:
        target = Path.cwd() / DEFAULT_PATH
    if isinstance(target, str) and "://" in target:
        for prefix in ("postgres://", "postgresql://"):
            if target.startswith(prefix):
                return "postgresql+psycopg://" + target[len(prefix):], None
        return target, None
    path = Path(target).expanduser().resolve()
    return f"sqlite:///{path}", path


def _sqlite_engine(url: str, path: Path | None, echo: bool) -> Engine:
    if path is not None and not path.exists():
        from secpipe.secretkey import make_private_dir

        make_private_dir(path.parent)   # a folder it creates gets a `.gitignore` of `*`
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))   # secrets live in here
    memory = path is None and (url.endswith(":memory:") or url in ("sqlite://", "sqlite:///"))
    engine = create_engine(url, echo=echo, connect_args={"check_same_thread": False},
                           **({"poolclass": StaticPool} if memory else {}))

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record) -> None:
        dbapi_conn.isolation_level = None          # we emit BEGIN ourselves (see _begin)
        cur = dbapi_conn.cursor()
        # page_size only takes on a new file (before WAL): 16 KB pages hold a whole finding
        # row (2-4 KB of ASFF) with room to spare and measured ~40% faster bulk inserts.
        # wal_autocheckpoint: checkpoint every 128 MB of WAL rather than 16 MB, so index pages
        # rewritten by consecutive batches are copied back once (-20% CPU on bulk imports).
        # mmap_size: up to 2 GB of the file mapped (SQLite's own ceiling), shared by every
        # connection through the OS page cache: at 1M findings (~4 GB) a page that is not in a
        # connection's own 64 MB cache is a memory read instead of a 16 KB pread copy
        # (GetFindings -20% CPU when driving from a side table).
        for pragma in ("page_size=16384", "journal_mode=WAL", "synchronous=NORMAL",
                       "busy_timeout=30000", "temp_store=MEMORY", "cache_size=-65536",
                       "mmap_size=2147418112", "wal_autocheckpoint=8000",
                       "journal_size_limit=134217728", "foreign_keys=ON"):
            cur.execute(f"PRAGMA {pragma}")
        cur.close()
        query_json.register_sqlite(dbapi_conn)     # the document filters' functions

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("secpipe_write")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def _migrate(engine: Engine, store: "SqlHubStore") -> None:
    """Upgrade the schema to the newest revision, unless it is there already."""
    from secpipe.hub.schema_version import at_head

    if at_head(engine, _MIGRATIONS, _VERSION_TABLE):
        return   # the common case, without importing alembic (0.2 s)
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"version_table": _VERSION_TABLE})
        if ctx.get_current_revision() == head:
            return
    with store._write() as conn:
        cfg.attributes["connection"] = conn
        cfg.attributes["partition"] = (store.account_id, store.region)   # for existing rows
        command.upgrade(cfg, "head")


def _build_template(path: Path, account: str, region: str) -> None:
    """Migrate a new, empty SQLite hub at `path` and leave it closed with its WAL folded in."""
    engine = _sqlite_engine(f"sqlite:///{path}", path, False)
    try:
        _migrate(engine, SqlHubStore(engine, account_id=account, region=region))
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        engine.dispose()


def open_store(url_or_path: str | Path | None = None, *, account_id: str | None = None,
               region: str = "us-east-1", echo: bool = False) -> "SqlHubStore":
    """Open (creating and migrating as needed) a hub.

    None -> `.secpipe/hub.db` under the current directory; a path -> that SQLite file;
    `sqlite:///...` or `postgresql://...` (psycopg 3) -> that database.

    `account_id` (12 digits) is the hub's own account, remembered by the hub on first use:
    None means the remembered one (000000000000 for a new hub), another one than remembered
    is InvalidInput. `region` is the store's default region (the API takes each request's
    from its SigV4 scope). The first open enables Security Hub in (account, region).
    """
    if account_id is not None:
        partitions.check_account(account_id)
    partitions.check_region(region)
    url, path = _url_for(url_or_path)
    if url.startswith("sqlite"):
        if path is not None:
            account = account_id or partitions.DEFAULT.account
            template.seed_new_hub(path, _MIGRATIONS, account, region,
                                  lambda scratch: _build_template(scratch, account, region))
        engine = _sqlite_engine(url, path, echo)
    else:
        # No server-side prepared statements: after five runs psycopg would prepare a page
        # query and PostgreSQL may switch to a generic plan that ignores the filter values
        # (measured: 20 ms -> 800 ms at 1M findings). JIT and parallel workers cost more than
        # they save on queries that return one page.
        engine = create_engine(url, echo=echo, pool_pre_ping=True, connect_args={
            "prepare_threshold": None,
            "options": "-c jit=off -c max_parallel_workers_per_gather=0"})
        event.listen(engine, "before_cursor_execute", refuse_nul_parameters)
    store = SqlHubStore(engine, account_id=account_id or partitions.DEFAULT.account,
                        region=region, secret_file=secret_location(url, path))
    _migrate(engine, store)
    try:
        settle(store, account_id)
    except BaseException:
        engine.dispose()
        raise
    store.encrypt_legacy_keys()
    return store


class SqlHubStore(RulesStore, KeysUsersAudit, ProductSubscriptions, FindingsFamily,
                  Subscription):
    """`HubStore` on SQLAlchemy Core. Thread-safe: every call takes its own connection."""

    def __init__(self, engine: Engine, *, account_id: str = "000000000000",
                 region: str = "us-east-1", secret_file: Path | str | None = None,
                 policy: Policy | None = None) -> None:
        self.engine = engine
        self.account_id = account_id
        self.region = region
        self.secret_file = secret_file
        # protected branches and timestamp skew (`hub serve` sets them from its options)
        self.policy = policy or Policy.from_env()
        self._cipher: KeyCipher | None = None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> "SqlHubStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def _write(self, held: Connection | None = None) -> Iterator[Connection]:
        """A write transaction, on `held` (left open) when given."""
        opened = nullcontext(held) if held is not None else self.engine.connect()
        with writegate.for_engine(self.engine), opened as conn:
            conn.execution_options(secpipe_write=True)
            with conn.begin():
                if self.dialect == "postgresql":
                    conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_WRITE_LOCK})")
                yield conn

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
            return (*self._check(chunk, None, part), seen)

        # one connection for every transaction (data_version is per connection)
        with self.engine.connect() if fresh.enabled else nullcontext() as held:
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
               partition: Partition | None = None
               ) -> tuple[list[importer.Checked], list[dict]]:
        """`importer.check_all` with what the hub stores for these keys (read before the write
        lock is taken; `importer.write` confirms it under the lock)."""
        with self._read() as conn:
            stored = importer.known(conn, chunk, self._part(partition))
        return importer.check_all(chunk, stored, sizes, self.policy.future_skew)

    def _import(self, chunk: Sequence[Any], checked: tuple | None = None,
                principal: Principal | None = None, partition: Partition | None = None
                ) -> tuple[ImportResult, importer.WriteResult]:
        part = self._part(partition)
        good, failed = checked or self._check(chunk, None, part)
        with self._write() as conn:
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

    # --- GetFindings -------------------------------------------------------------------------
    def get_findings(self, filters: Mapping[str, Any] | None = None,
                     sort: Sequence[Mapping[str, str]] | None = None,
                     max_results: int = 100, next_token: str | None = None, *,
                     text: str | None = None, partition: Partition | None = None,
                     principal: Principal | None = None
                     ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of findings; `text` (secpipe extension) also matches title, description
        and resource ids case-insensitively. Only the partition's findings (and, for a
        principal scoped to member accounts, only theirs) are seen."""
        scope = partitions.visible(self._part(partition), principal)
        with self._read() as conn:
            docs, token = pages.findings_page(conn, filters, sort, max_results, next_token, text,
                                              scope)
        return [loads(d) for d in docs], token

    def count_findings(self, filters: Mapping[str, Any] | None = None, *,
                       text: str | None = None, partition: Partition | None = None,
                       principal: Principal | None = None) -> int:
        scope = partitions.visible(self._part(partition), principal)
        with self._read() as conn:
            return pages.count(conn, filters, text, scope)

    def group_counts(self, group_by: str, filters: Mapping[str, Any] | None = None, *,
                     text: str | None = None, limit: int = 100,
                     partition: Partition | None = None,
                     principal: Principal | None = None) -> list[dict[str, Any]]:
        """[{GroupByAttributeValue, Count}], e.g. open findings by SeverityLabel or by
        `ProductFields.secpipe/Stage`."""
        scope = partitions.visible(self._part(partition), principal)
        with self._read() as conn:
            return pages.group_counts(conn, group_by, filters, text, limit, scope)

    def get_finding(self, finding_id: str, product_arn: str | None = None, *,
                    partition: Partition | None = None) -> dict[str, Any]:
        q = select(F.c.doc).where(F.c.id == finding_id,
                                  partitions.findings_in(self._part(partition)))
        if product_arn is not None:
            q = q.where(F.c.product_arn == product_arn)
        with self._read() as conn:
            row = conn.execute(q.limit(1)).first()
        if row is None:
            raise ResourceNotFound(f"finding {finding_id} not found")
        return loads(row[0])

    # --- BatchUpdateFindings -----------------------------------------------------------------
    def batch_update(self, identifiers: Sequence[Mapping[str, str]], changes: Mapping[str, Any],
                     *, updated_by: str = "secpipe",
                     principal: Principal | None = None,
                     partition: Partition | None = None) -> UpdateResult:
        """BatchUpdateFindings. With a `principal`, the history's actor is its name (never
        Note.UpdatedBy, which stays data) and a scoped principal's out-of-scope findings come
        back unprocessed (AccessDenied)."""
        if not isinstance(changes, Mapping):
            raise InvalidInput("changes must be an object")
        actor = principal.name if principal is not None else updated_by
        with self._write() as conn:
            keys_ = [(i.get("Id"), i.get("ProductArn")) for i in identifiers
                     if isinstance(i, Mapping)] if isinstance(identifiers, Sequence) else []
            before = audit.findings_state(conn, keys_)
            result = updates.batch_update(conn, identifiers, changes, actor, principal,
                                          self._part(partition))
            audit.record(conn, principal, "BatchUpdateFindings",
                         [p["Id"] for p in result.processed], before=before,
                         after=audit.findings_state(conn, keys_),
                         detail={"fields": sorted(changes), "unprocessed":
                                 len(result.unprocessed), audit.STATE_KEY: audit.STATE_VERSION})
            return result

    # --- insights (per partition: None is the store's own; the hub's subscription: mixin) ----
    def create_insight(self, name: str, filters: Mapping[str, Any], group_by: str, *,
                       principal: Principal | None = None,
                       partition: Partition | None = None) -> str:
        part = self._part(partition)
        with self._write() as conn:
            arn = insights.create(conn, part.region, part.account, name, filters, group_by)
            audit.record(conn, principal, "CreateInsight", [arn],
                         after=audit.digest([name, filters, group_by]))
            return arn

    def get_insights(self, arns: Sequence[str] | None = None, max_results: int = 100,
                     next_token: str | None = None, *, partition: Partition | None = None
                     ) -> tuple[list[dict[str, Any]], str | None]:
        with self._read() as conn:
            return insights.get(conn, arns, max_results, next_token, self._part(partition))

    def get_insight_results(self, arn: str, *, partition: Partition | None = None,
                            principal: Principal | None = None) -> dict[str, Any]:
        part = self._part(partition)
        with self._read() as conn:
            return insights.results(conn, arn, part, partitions.visible(part, principal))

    def update_insight(self, arn: str, *, name: str | None = None,
                       filters: Mapping[str, Any] | None = None,
                       group_by: str | None = None, principal: Principal | None = None,
                       partition: Partition | None = None) -> None:
        part = self._part(partition)
        with self._write() as conn:
            before = audit.digest(insights.get(conn, [arn], 1, None, part)[0])
            insights.update_(conn, arn, name, filters, group_by, part)
            audit.record(conn, principal, "UpdateInsight", [arn], before=before,
                         after=audit.digest(insights.get(conn, [arn], 1, None, part)[0]))

    def delete_insight(self, arn: str, *, principal: Principal | None = None,
                       partition: Partition | None = None) -> str:
        part = self._part(partition)
        with self._write() as conn:
            before = audit.digest(insights.get(conn, [arn], 1, None, part)[0])
            out = insights.delete_(conn, arn, part)
            tags.forget(conn, arn)
            audit.record(conn, principal, "DeleteInsight", [arn], before=before)
            return out

    # --- runs ----------------------------------------------------------------------------------
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
                written = importer.write(conn, chunk, actor=actor, run_id=run.run_id,
                                         partition=self.partition)
                failed += written.failed
                for item in chunk:
                    pk = written.pks.get(item.key)
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

    def list_runs(self, repo: str | None = None, branch: str | None = None,
                  limit: int = 50) -> list[RunRecord]:
        with self._read() as conn:
            return runs.list_(conn, repo, branch, limit)

    def get_run(self, run_id: str) -> RunRecord:
        with self._read() as conn:
            return runs.get(conn, run_id)

    def run_diff(self, run_id: str) -> RunDiff:
        with self._read() as conn:
            return runs.diff(conn, run_id)

    def finding_history(self, finding_id: str) -> list[dict[str, Any]]:
        with self._read() as conn:
            return runs.history(conn, finding_id)

    def baseline_ids(self, repo: str, branch: str) -> set[str]:
        with self._read() as conn:
            return runs.baseline_ids(conn, repo, branch, self.policy)
