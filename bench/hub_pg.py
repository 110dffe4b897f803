"""A throwaway local PostgreSQL server for the hub benchmarks (the tests have their own).

As root, PostgreSQL refuses to start, so the cluster belongs to the `postgres` system user (or
`nobody`) and the binaries run through `runuser`. fsync stays on: the figures should be those
of a real server.

`PgServer(keep=DIR)` keeps the cluster in DIR and reuses it on the next run (a 1M-finding hub
is built once). `copy_hub` fills a PostgreSQL hub with exactly the rows a SQLite hub built by
the store holds (the findings and their side tables, COPY'd table by table): building 1M
findings on PostgreSQL through the import path takes over 20 minutes on this machine, and the
rows the store writes are the same on both dialects (same importer, same row builders). The
indexes are dropped for the copy and built again afterwards, then ANALYZE, so the hub ends as
`open_store` plus a bulk import would leave it.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def _bin(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/local/bin")
    if not found:
        candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
        if not candidates:
            raise SystemExit(f"no PostgreSQL binary {name}: run with --no-pg")
        found = candidates[-1]
    return found


class PgServer:
    def __init__(self, keep: Path | None = None) -> None:
        self.keep = keep is not None
        self.base = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="secpipe-bench-pg-"))
        self.data, self.sock = self.base / "data", self.base / "sock"
        fresh = not (self.data / "PG_VERSION").exists()
        self.base.mkdir(parents=True, exist_ok=True)
        self.sock.mkdir(exist_ok=True)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            user = "postgres"
            try:
                pw = pwd.getpwnam(user)
            except KeyError:
                user, pw = "nobody", pwd.getpwnam("nobody")
            for p in (self.base, self.sock):
                os.chown(p, pw.pw_uid, pw.pw_gid)
            self.prefix = ["runuser", "-u", user, "--"]
        if fresh:
            self._run([_bin("initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
                       "-E", "UTF8", "--locale=C"])
        opts = (f"-h 127.0.0.1 -p {self.port} -k {self.sock} -c shared_buffers=512MB "
                "-c max_wal_size=4GB -c work_mem=32MB")
        self._run([_bin("pg_ctl"), "-D", str(self.data), "-o", opts, "-l",
                   str(self.base / "log"), "-w", "start"])

    def _run(self, cmd: list[str]) -> None:
        proc = subprocess.run(self.prefix + cmd, capture_output=True, text=True, cwd=self.base)
        if proc.returncode:
            raise RuntimeError(f"{cmd[0]}: {proc.stderr or proc.stdout}")

    def url(self, name: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def has_db(self, name: str) -> bool:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                (name,)).fetchone() is not None

    def new_db(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run([_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"])
        finally:
            if not self.keep:
                shutil.rmtree(self.base, ignore_errors=True)


COPIED = ("findings", "finding_types", "finding_resources", "finding_map")


def copy_hub(sqlite_path: Path, pg_url: str, account_id: str = "123456789012",
             since_pk: int | None = None) -> int:
    """Fill the (new) PostgreSQL hub at `pg_url` with the findings rows of the SQLite hub at
    `sqlite_path`; returns the findings in it. See the module docstring for why.
    `since_pk`: add only the findings above that pk (and their side rows) to a hub copied
    before, indexes in place (a bigger hub grown from a smaller copy)."""
    import sqlite3

    from secpipe.hub.store import open_store

    if since_pk is None:
        open_store(pg_url, account_id=account_id).close()      # schema, migrations, settings
    import psycopg

    src = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)
    with psycopg.connect(pg_url) as conn:
        indexes = [] if since_pk is not None else conn.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = ANY(%s) "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
            (list(COPIED),)).fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        for table in COPIED:
            cols = [r[1] for r in src.execute(f'PRAGMA table_info("{table}")')]
            types = {r[0]: r[1] for r in conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = %s", (table,))}
            booleans = [i for i, c in enumerate(cols) if types[c] == "boolean"]
            collist = ", ".join(f'"{c}"' for c in cols)
            with conn.cursor() as cur, cur.copy(f'COPY "{table}" ({collist}) FROM STDIN') as cp:
                key = "pk" if table == "findings" else "finding_pk"
                for row in src.execute(f'SELECT {collist} FROM "{table}" WHERE "{key}" > ?',
                                       (since_pk or 0,)):
                    if booleans:
                        row = list(row)
                        for i in booleans:
                            row[i] = bool(row[i])
                    cp.write_row(row)
            conn.commit()
        conn.execute("SET maintenance_work_mem = '512MB'")
        for _, ddl in indexes:
            conn.execute(ddl)
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")
        count = conn.execute("SELECT count(*) FROM findings").fetchone()[0]
    src.close()
    return count
