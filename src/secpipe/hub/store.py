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
from typing import Any, Iterator, Mapping, Sequence

from sqlalchemy import create_engine, event, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

# Read by every open and every run: what a local `secpipe run` records with. The API's
# queries, updates and insights (pages, query, query_json, insights, tags, updates: ~25 ms of
# imports) are imported by the methods that answer them, so a run's recording never loads them.
from secpipe.hub import (audit, filtermatch, partitions, runs, template, walcheckpoint,
                         writegate)
from secpipe.hub.authz import Policy, Principal
from secpipe.hub.hubsecret import KeyCipher, secret_location
from secpipe.hub.keyread import KeyReader
from secpipe.hub.rules_store import RulesStore
from secpipe.hub.store_admin import KeysUsersAudit
from secpipe.hub.store_family import FindingsFamily
from secpipe.hub.store_import import (MAX_IMPORT_BYTES, MAX_IMPORT_FINDINGS,  # noqa: F401
                                     FindingsImport)
from secpipe.hub.store_partitions import Subscription, settle
from secpipe.hub.subscriptions import ProductSubscriptions
from secpipe.hub.common import loads, refuse_nul_parameters
from secpipe.hub.query_decode import load_docs
from secpipe.hub.interface import (
    InvalidInput,
    Partition,
    ResourceNotFound,
    RunDiff,
    RunRecord,
    UpdateResult,
)
from secpipe.hub.schema import findings as F

DEFAULT_PATH = Path(".secpipe") / "hub.db"
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


_MMAP_BYTES = 2147418112   # SQLite's own ceiling (see _sqlite_engine)


def _sqlite_engine(url: str, path: Path | None, echo: bool, cache_mb: int = 64,
                   mmap: bool = True,
                   background_checkpoint: bool = False) -> Engine:
    if path is not None and not path.exists():
        from secpipe.secretkey import make_private_dir

        make_private_dir(path.parent)   # a folder it creates gets a `.gitignore` of `*`
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))   # secrets live in here
    memory = path is None and (url.endswith(":memory:") or url in ("sqlite://", "sqlite:///"))
    engine = create_engine(url, echo=echo, connect_args={"check_same_thread": False},
                           **({"poolclass": StaticPool} if memory else {}))

    checkpoint, wal_limit = ((walcheckpoint.BACKSTOP, walcheckpoint.BACKSTOP_WAL_LIMIT)
                             if background_checkpoint else
                             (walcheckpoint.AUTOCHECKPOINT, walcheckpoint.WAL_LIMIT))

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
        # cache_size: each connection's page cache, `cache_mb` (see open_store); mmap off
        # where `mmap` says so (open_store). `background_checkpoint`: a thread checkpoints
        # beside the writers (`walcheckpoint`), SQLite's own checkpoint is a backstop and the
        # WAL file is kept as large as it lets the WAL grow.
        for pragma in ("page_size=16384", "journal_mode=WAL", "synchronous=NORMAL",
                       "busy_timeout=30000", "temp_store=MEMORY",
                       f"cache_size=-{cache_mb * 1024}",
                       f"mmap_size={_MMAP_BYTES if mmap else 0}",
                       f"wal_autocheckpoint={checkpoint}", f"journal_size_limit={wal_limit}",
                       "foreign_keys=ON"):
            cur.execute(f"PRAGMA {pragma}")
        cur.close()
        filtermatch.register_sqlite(dbapi_conn)    # the document filters' functions

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
               region: str = "us-east-1", echo: bool = False,
               cache_mb: int = 64, mmap: bool = True,
               background_checkpoint: bool = False) -> "SqlHubStore":
    """Open (creating and migrating as needed) a hub.

    None -> `.secpipe/hub.db` under the current directory; a path -> that SQLite file;
    `sqlite:///...` or `postgresql://...` (psycopg 3) -> that database.

    `account_id` (12 digits) is the hub's own account, remembered by the hub on first use:
    None means the remembered one (000000000000 for a new hub), another one than remembered
    is InvalidInput. `region` is the store's default region (the API takes each request's
    from its SigV4 scope). The first open enables Security Hub in (account, region).

    `cache_mb` bounds each SQLite connection's page cache (PostgreSQL: unused). 64 MB serves
    a hub's reads; a run recording its findings fills it with the pages it writes, which are
    never read again in that process (`pipeline.hubsync` asks for less). `mmap=False`: the
    file is read with pread instead of mapped. A mapped page a connection has read stays in
    its process's resident set (as the OS's cache, but counted as the process's memory): a
    run re-recording 50k findings reads back every stored document and its peak grew by the
    whole 300 MB file; a run's hub reads each page about once, where a copy costs little.

    `background_checkpoint` (`hub serve`): a SQLite file's WAL is checkpointed by a thread of
    this process after writes rather than inside the commit that crossed 128 MB, which every
    other writer waited out (`walcheckpoint`). PostgreSQL: no effect.
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
        engine = _sqlite_engine(url, path, echo, cache_mb, mmap, background_checkpoint)
    else:
        # No server-side prepared statements: after five runs psycopg would prepare a page
        # query and PostgreSQL may switch to a generic plan that ignores the filter values
        # (measured: 20 ms -> 800 ms at 1M findings). JIT and parallel workers cost more than
        # they save on queries that return one page. random_page_cost 1.1 (the usual SSD /
        # cached setting; the default 4 prices a spinning disk): a rare filter's candidates
        # are probed by index, where 4 made the planner scan 100k entries of a common value's
        # index instead, 2-4x slower, as a chance ANALYZE sample decided (see `pages`).
        engine = create_engine(url, echo=echo, pool_pre_ping=True, connect_args={
            "prepare_threshold": None,
            "options": "-c jit=off -c max_parallel_workers_per_gather=0 "
                       "-c random_page_cost=1.1"})
        event.listen(engine, "before_cursor_execute", refuse_nul_parameters)
        from secpipe.hub.schema import load_pg_options

        load_pg_options()   # the indexes' PostgreSQL options (never loaded for SQLite)
    store = SqlHubStore(engine, account_id=account_id or partitions.DEFAULT.account,
                        region=region, secret_file=secret_location(url, path))
    _migrate(engine, store)
    try:
        settle(store, account_id)
    except BaseException:
        engine.dispose()
        raise
    store.encrypt_legacy_keys()
    if background_checkpoint and writegate.database_file(engine):
        store.checkpointer = walcheckpoint.Checkpointer(engine)
    return store


class SqlHubStore(FindingsImport, RulesStore, KeysUsersAudit, ProductSubscriptions,
                  FindingsFamily, Subscription):
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
        # SigV4's key rows on one kept connection (a SQLite file: not the one connection of
        # an in-memory hub, which every thread shares)
        self.key_reader: KeyReader | None = \
            KeyReader(engine) if writegate.database_file(engine) else None
        # `hub serve`'s WAL checkpoints beside the writers (open_store's background_checkpoint)
        self.checkpointer: walcheckpoint.Checkpointer | None = None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.close()
        if self.key_reader is not None:
            self.key_reader.close()
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
    def _read_one(self) -> Iterator[Connection]:
        """A read that runs one statement (a GetFindings page on PostgreSQL): there without
        BEGIN and COMMIT, two round trips of four (with the pool's ping), which a loaded
        machine makes milliseconds each; one statement sees one snapshot anyway."""
        if self.dialect != "postgresql":
            with self._read() as conn:
                yield conn
            return
        with self.engine.connect() as conn:
            yield conn.execution_options(isolation_level="AUTOCOMMIT")

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
        if self.checkpointer is not None:
            self.checkpointer.after_write()     # committed, and the gate is free again

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
        from secpipe.hub import pages

        scope = partitions.visible(self._part(partition), principal)
        with self._read_one() as conn:
            docs, token = pages.findings_page(conn, filters, sort, max_results, next_token, text,
                                              scope)
        return load_docs(docs), token

    def count_findings(self, filters: Mapping[str, Any] | None = None, *,
                       text: str | None = None, partition: Partition | None = None,
                       principal: Principal | None = None) -> int:
        from secpipe.hub import pages

        scope = partitions.visible(self._part(partition), principal)
        with self._read() as conn:
            return pages.count(conn, filters, text, scope)

    def group_counts(self, group_by: str, filters: Mapping[str, Any] | None = None, *,
                     text: str | None = None, limit: int = 100,
                     partition: Partition | None = None,
                     principal: Principal | None = None) -> list[dict[str, Any]]:
        """[{GroupByAttributeValue, Count}], e.g. open findings by SeverityLabel or by
        `ProductFields.secpipe/Stage`."""
        from secpipe.hub import pages

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
        from secpipe.hub import updates

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
        from secpipe.hub import insights

        part = self._part(partition)
        with self._write() as conn:
            arn = insights.create(conn, part.region, part.account, name, filters, group_by)
            audit.record(conn, principal, "CreateInsight", [arn],
                         after=audit.digest([name, filters, group_by]))
            return arn

    def get_insights(self, arns: Sequence[str] | None = None, max_results: int = 100,
                     next_token: str | None = None, *, partition: Partition | None = None
                     ) -> tuple[list[dict[str, Any]], str | None]:
        from secpipe.hub import insights

        with self._read() as conn:
            return insights.get(conn, arns, max_results, next_token, self._part(partition))

    def get_insight_results(self, arn: str, *, partition: Partition | None = None,
                            principal: Principal | None = None) -> dict[str, Any]:
        from secpipe.hub import insights

        part = self._part(partition)
        with self._read() as conn:
            return insights.results(conn, arn, part, partitions.visible(part, principal))

    def update_insight(self, arn: str, *, name: str | None = None,
                       filters: Mapping[str, Any] | None = None,
                       group_by: str | None = None, principal: Principal | None = None,
                       partition: Partition | None = None) -> None:
        from secpipe.hub import insights

        part = self._part(partition)
        with self._write() as conn:
            before = audit.digest(insights.get(conn, [arn], 1, None, part)[0])
            insights.update_(conn, arn, name, filters, group_by, part)
            audit.record(conn, principal, "UpdateInsight", [arn], before=before,
                         after=audit.digest(insights.get(conn, [arn], 1, None, part)[0]))

    def delete_insight(self, arn: str, *, principal: Principal | None = None,
                       partition: Partition | None = None) -> str:
        from secpipe.hub import insights, tags

        part = self._part(partition)
        with self._write() as conn:
            before = audit.digest(insights.get(conn, [arn], 1, None, part)[0])
            out = insights.delete_(conn, arn, part)
            tags.forget(conn, arn)
            audit.record(conn, principal, "DeleteInsight", [arn], before=before)
            return out

    # --- runs ----------------------------------------------------------------------------------
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
