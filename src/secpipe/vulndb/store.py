"""The vulnerability database: OSV records in SQLite, indexed by (ecosystem, package name).

One file (`--db PATH`, else `$SECPIPE_VULNDB`, else `~/.cache/secpipe/vulndb.sqlite`) holding
every imported OSV record whole (zlib-compressed JSON, served back by the OSV-compatible API)
plus what matching needs without decompressing anything: per advisory its aliases, summary,
severity vectors and the database's own rating; per affected package its base ecosystem,
release, normalised name, ranges and explicit versions. Imports go in batches through
executemany in one transaction per batch; a record replaces a stored one with the same id
unless the stored one is newer (OSV: the later `modified` is authoritative).
"""

from __future__ import annotations

import json
import time
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

from sqlalchemy import (Column, Float, Index, Integer, LargeBinary, MetaData, String, Table,
                        Text, create_engine, event, func, select)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from secpipe.vulndb.ecosystems import canonical
from secpipe.vulndb.errors import VulnDBError
from secpipe.vulndb.records import rows, text as _text, validate

SCHEMA_VERSION = "1"
BATCH = 2000
_IN_CHUNK = 500  # SQLite's bound-parameter limit is generous, but keep IN lists modest

metadata = MetaData()
meta = Table("meta", metadata, Column("key", String, primary_key=True), Column("value", Text))
advisories = Table(
    "advisories", metadata,
    Column("id", String, primary_key=True),
    Column("modified", String, nullable=False, default=""),
    Column("published", String, nullable=False, default=""),
    Column("withdrawn", String, nullable=False, default=""),
    Column("summary", Text, nullable=False, default=""),
    Column("details", Text, nullable=False, default=""),
    Column("severity", Text, nullable=False, default="[]"),   # JSON [{type, score}]
    Column("db_severity", String, nullable=False, default=""),  # database_specific.severity
    Column("cwes", Text, nullable=False, default="[]"),
    Column("refs", Text, nullable=False, default="[]"),         # JSON [url] (first few)
    Column("record", LargeBinary, nullable=False),              # zlib(JSON) of the whole record
    Column("source", String, nullable=False, default=""),
)
aliases = Table(
    "aliases", metadata,
    Column("advisory_id", String, nullable=False), Column("alias", String, nullable=False),
    Index("ix_aliases_advisory", "advisory_id"), Index("ix_aliases_alias", "alias"),
)
affected = Table(
    "affected", metadata,
    Column("advisory_id", String, nullable=False),
    Column("ecosystem", String, nullable=False),   # as written: "Debian:11"
    Column("base", String, nullable=False),        # "debian"
    Column("release", String, nullable=False, default=""),
    Column("name", String, nullable=False),        # normalised for lookups
    Column("purl", String, nullable=False, default=""),
    Column("ranges", Text, nullable=False, default="[]"),
    Column("versions", Text, nullable=False, default="[]"),
    Column("severity", Text, nullable=False, default="[]"),  # affected[].severity
    Index("ix_affected_lookup", "base", "name"), Index("ix_affected_advisory", "advisory_id"),
)
ecosystems = Table(  # advisories per base ecosystem, refreshed by every import
    "ecosystems", metadata,
    Column("base", String, primary_key=True), Column("advisories", Integer, nullable=False),
)
imports = Table(
    "imports", metadata,
    Column("n", Integer, primary_key=True, autoincrement=True),
    Column("at", String, nullable=False), Column("source", Text, nullable=False),
    Column("imported", Integer, nullable=False), Column("skipped", Integer, nullable=False),
    Column("seconds", Float, nullable=False),
)


def default_path() -> Path:
    """$SECPIPE_VULNDB, else $XDG_CACHE_HOME/secpipe/vulndb.sqlite, else ~/.cache/..."""
    from secpipe.paths import from_env_or_cache

    return from_env_or_cache("SECPIPE_VULNDB", "vulndb.sqlite")


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class ImportResult:
    imported: int = 0                 # new or replaced records
    kept_newer: int = 0               # skipped: the stored copy has a newer `modified`
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (where, why)
    seconds: float = 0.0


@dataclass(frozen=True)
class Status:
    path: Path
    exists: bool
    advisories: int
    ecosystems: dict[str, int]        # canonical ecosystem -> advisories naming it
    last_import: str | None           # ISO time of the last import, None if never
    size_bytes: int

    @property
    def age_seconds(self) -> float | None:
        if not self.last_import:
            return None
        then = datetime.strptime(self.last_import, "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=timezone.utc)
        return max(0.0, (datetime.now(timezone.utc) - then).total_seconds())


def _chunks(items: Sequence[Any], size: int = _IN_CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


class VulnDB:
    """An open vulnerability database file (created on first write)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path).expanduser() if path else default_path()
        self._engine: Engine | None = None

    # --- connection -------------------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            if self.path.is_dir():
                raise VulnDBError(f"{self.path}: is a folder; --db takes the database file")
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise VulnDBError(f"{self.path}: cannot create its folder: {exc}") from None
            engine = create_engine(f"sqlite:///{self.path}")

            @event.listens_for(engine, "connect")
            def _pragmas(dbapi_conn: Any, _record: Any) -> None:
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.execute("PRAGMA busy_timeout=30000")
                cur.close()

            try:
                metadata.create_all(engine)
                with engine.begin() as conn:
                    if conn.execute(select(meta.c.value).where(meta.c.key == "schema")
                                    ).scalar() is None:
                        conn.execute(meta.insert(), [{"key": "schema", "value": SCHEMA_VERSION}])
            except SQLAlchemyError as exc:
                engine.dispose()
                raise VulnDBError(f"{self.path}: not a usable vulnerability database "
                                  f"({getattr(exc, 'orig', None) or exc})") from None
            self._engine = engine
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def __enter__(self) -> "VulnDB":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- import -----------------------------------------------------------------------------

    def import_records(self, records: Iterable[tuple[Any, ...]], *, label: str = "",
                       result: ImportResult | None = None) -> ImportResult:
        """Store (where, record) or (where, record, raw JSON) items; invalid records are
        rejected with their reason.

        One transaction for the whole import: an archive refused half-way (a member that
        inflates beyond its declared size) leaves the database exactly as it was.
        """
        result = result or ImportResult()
        start = time.monotonic()
        batch: dict[str, tuple[Any, str, bytes | None]] = {}
        with self.engine.begin() as conn:
            for item in records:
                where, record = item[0], item[1]
                raw = item[2] if len(item) > 2 else None
                problem = validate(record)
                if problem:
                    result.rejected.append((where, problem))
                    continue
                rid = record["id"].strip()
                held = batch.get(rid)
                if held is None or _text(record.get("modified")) >= _text(
                        held[0].get("modified")):
                    batch[rid] = (record, where, raw)
                if len(batch) >= BATCH:
                    self._write(conn, batch, result)
                    batch = {}
            if batch:
                self._write(conn, batch, result)
            if result.imported:
                conn.execute(ecosystems.delete())
                conn.execute(ecosystems.insert().from_select(
                    ["base", "advisories"],
                    select(affected.c.base, func.count(affected.c.advisory_id.distinct()))
                    .group_by(affected.c.base)))
            result.seconds += time.monotonic() - start
            conn.execute(imports.insert(), [{
                "at": now_iso(), "source": label[:1000], "imported": result.imported,
                "skipped": result.kept_newer, "seconds": round(result.seconds, 3)}])
        return result

    def _write(self, conn: Connection, batch: Mapping[str, tuple[Any, str, bytes | None]],
               result: ImportResult) -> None:
        ids = list(batch)
        stored: dict[str, str] = {}
        for part in _chunks(ids):
            stored.update(conn.execute(select(advisories.c.id, advisories.c.modified)
                                       .where(advisories.c.id.in_(part))).all())
        fresh = [i for i in ids if i not in stored
                 or _text(batch[i][0].get("modified")) >= stored[i]]
        result.kept_newer += len(ids) - len(fresh)
        if not fresh:
            return
        replaced = [i for i in fresh if i in stored]
        for part in _chunks(replaced):
            for table, column in ((advisories, advisories.c.id),
                                  (aliases, aliases.c.advisory_id),
                                  (affected, affected.c.advisory_id)):
                conn.execute(table.delete().where(column.in_(part)))
        adv_rows, alias_rows, aff_rows = [], [], []
        for rid in fresh:
            record, where, raw = batch[rid]
            adv, al, af = rows(record, where, raw)
            adv_rows.append(adv)
            alias_rows += al
            aff_rows += af
        conn.execute(advisories.insert(), adv_rows)
        if alias_rows:
            conn.execute(aliases.insert(), alias_rows)
        if aff_rows:
            conn.execute(affected.insert(), aff_rows)
        result.imported += len(fresh)

    def import_path(self, path: str | Path, **limits: int) -> ImportResult:
        """Import OSV JSON files, a folder of them, or an OSV `all.zip` (see `sources`)."""
        from secpipe.vulndb.sources import read_records

        path = Path(path)
        result = ImportResult()
        return self.import_records(read_records(path, result.rejected, **limits),
                                   label=str(path), result=result)

    # --- queries ----------------------------------------------------------------------------

    def status(self) -> Status:
        """Ecosystems, advisory counts and the last import, without creating the file."""
        if not self.path.exists():
            return Status(self.path, False, 0, {}, None, 0)
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(advisories)).scalar() or 0
            per = list(self._ecosystem_counts(conn).items())
            last = conn.execute(select(func.max(imports.c.at))).scalar()
        size = sum(p.stat().st_size for p in (self.path, Path(f"{self.path}-wal"))
                   if p.exists())
        return Status(self.path, True, int(total),
                      {canonical(base): int(n) for base, n in sorted(per) if n}, last, size)

    def count_for(self, bases: Iterable[str]) -> dict[str, int]:
        """Advisories stored per base ecosystem key (0 for those with none)."""
        wanted = sorted(set(bases))
        counts = dict.fromkeys(wanted, 0)
        if not wanted or not self.path.exists():
            return counts
        with self.engine.connect() as conn:
            stored = self._ecosystem_counts(conn)
        counts.update({b: n for b, n in stored.items() if b in counts})
        return counts

    @staticmethod
    def _ecosystem_counts(conn: Connection) -> dict[str, int]:
        """Advisories per base ecosystem from the summary every import refreshes; counted
        live when the summary is missing but advisories exist (a database an older secpipe
        filled), so such a database never reads as empty."""
        rows = conn.execute(select(ecosystems.c.base, ecosystems.c.advisories)).all()
        if not rows and conn.execute(select(affected.c.base).limit(1)).first() is not None:
            rows = conn.execute(select(affected.c.base,
                                       func.count(affected.c.advisory_id.distinct()))
                                .group_by(affected.c.base)).all()
        return {str(b): int(n) for b, n in rows}

    def has_ecosystem(self, base: str) -> bool:
        """Whether any advisory names a package of this base ecosystem (an index probe)."""
        if not self.path.exists():
            return False
        with self.engine.connect() as conn:
            return conn.execute(select(affected.c.advisory_id).where(affected.c.base == base)
                                .limit(1)).first() is not None

    def affected_rows(self, base: str, names: Sequence[str], conn: Connection | None = None
                      ) -> list[Any]:
        """Every affected[] entry for these normalised names in one base ecosystem."""
        if not names:
            return []
        cols = (affected.c.advisory_id, affected.c.release, affected.c.name,
                affected.c.ranges, affected.c.versions, affected.c.severity)
        out: list[Any] = []
        own = conn is None
        conn = conn or self.engine.connect()
        try:
            for part in _chunks(list(names)):
                out += conn.execute(select(*cols).where(affected.c.base == base,
                                                        affected.c.name.in_(part))).all()
        finally:
            if own:
                conn.close()
        return out

    def advisories_by_id(self, ids: Iterable[str], conn: Connection | None = None
                         ) -> dict[str, dict[str, Any]]:
        """Advisory metadata (no full record) with aliases, by id."""
        wanted = list(dict.fromkeys(ids))
        out: dict[str, dict[str, Any]] = {}
        own = conn is None
        conn = conn or self.engine.connect()
        try:
            cols = [c for c in advisories.c if c.name not in ("record", "source")]
            for part in _chunks(wanted):
                for row in conn.execute(select(*cols).where(advisories.c.id.in_(part))):
                    item = dict(row._mapping)
                    for key in ("severity", "cwes", "refs"):
                        item[key] = json.loads(item[key])
                    item["aliases"] = []
                    out[item["id"]] = item
                for adv_id, alias in conn.execute(select(aliases.c.advisory_id, aliases.c.alias)
                                                  .where(aliases.c.advisory_id.in_(part))):
                    out[adv_id]["aliases"].append(alias)
        finally:
            if own:
                conn.close()
        return out

    def records(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Whole OSV records by id (for the OSV-compatible API)."""
        wanted = list(dict.fromkeys(ids))
        out: dict[str, dict[str, Any]] = {}
        if not wanted or not self.path.exists():
            return out
        with self.engine.connect() as conn:
            for part in _chunks(wanted):
                for rid, blob in conn.execute(select(advisories.c.id, advisories.c.record)
                                              .where(advisories.c.id.in_(part))):
                    out[rid] = json.loads(zlib.decompress(blob))
        return out

    def resolve_alias(self, ident: str) -> list[str]:
        """Advisory ids stored under `ident` itself or carrying it as an alias."""
        with self.engine.connect() as conn:
            direct = conn.execute(select(advisories.c.id).where(advisories.c.id == ident)).all()
            via = conn.execute(select(aliases.c.advisory_id).where(aliases.c.alias == ident)).all()
        return list(dict.fromkeys([r[0] for r in direct] + [r[0] for r in via]))
