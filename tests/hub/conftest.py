"""Hub test fixtures: a real PostgreSQL server for the session, and a `store` on both databases.

The server is the machine's own PostgreSQL (`initdb`, `pg_ctl`), started in a temporary
directory on a free port, listening on 127.0.0.1 only, and stopped at the end of the session.
PostgreSQL refuses to run as root, so as root the data directory is handed to the `postgres`
system user (or `nobody`) and the binaries run through `runuser`. Each test gets a fresh
database cloned from a migrated template, so tests never see each other's rows.

The tests are skipped on PostgreSQL only when no PostgreSQL binaries exist at all.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

from secpipe.hub.store import SqlHubStore, open_store


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name) or shutil.which(name, path="/usr/local/bin")
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PgServer:
    """A throwaway PostgreSQL cluster; `new_url()` gives a fresh, migrated database."""

    def __init__(self) -> None:
        initdb, self.pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
        if not initdb or not self.pg_ctl:
            pytest.skip("no PostgreSQL binaries (initdb, pg_ctl) on this machine")
        self.base = Path(tempfile.mkdtemp(prefix="secpipe-pg-"))
        self.data = self.base / "data"
        self.sock = self.base / "sock"
        self.sock.mkdir()
        self.port = _free_port()
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            user = "postgres" if _has_user("postgres") else "nobody"
            pw = pwd.getpwnam(user)
            for path in (self.base, self.sock):
                os.chown(path, pw.pw_uid, pw.pw_gid)
            self.prefix = ["runuser", "-u", user, "--"]
        self._run([initdb, "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                   "--locale=C", "--no-sync"])
        opts = f"-h 127.0.0.1 -p {self.port} -k {self.sock} -F"
        self._run([self.pg_ctl, "-D", str(self.data), "-o", opts, "-l",
                   str(self.base / "server.log"), "-w", "-t", "60", "start"])
        self.counter = itertools.count()
        self._admin("CREATE DATABASE secpipe_template")
        template = open_store(self.url("secpipe_template"))   # migrate once, clone per test
        with template.engine.begin() as conn:   # clones start unconfigured, as a new hub does:
            conn.exec_driver_sql("DELETE FROM hub_settings")   # their first open settles the
            conn.exec_driver_sql("DELETE FROM hub")            # account and enables it
        template.close()
        self._admin("ALTER DATABASE secpipe_template WITH ALLOW_CONNECTIONS false")

    def _run(self, cmd: list[str]) -> None:
        proc = subprocess.run(self.prefix + cmd, capture_output=True, text=True, cwd=self.base)
        if proc.returncode != 0:
            log = self.base / "server.log"
            extra = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{cmd[0]} failed: {proc.stderr or proc.stdout}\n{extra}")

    def url(self, db: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(sql)

    def new_url(self, migrated: bool = True) -> str:
        name = f"secpipe_t{next(self.counter)}"
        template = " TEMPLATE secpipe_template" if migrated else ""
        self._admin(f"CREATE DATABASE {name}{template}")
        return self.url(name)

    def drop(self, url: str) -> None:
        self._admin(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[-1]} WITH (FORCE)")

    def stop(self) -> None:
        try:
            self._run([self.pg_ctl, "-D", str(self.data), "-m", "fast", "-w", "stop"])
        finally:
            shutil.rmtree(self.base, ignore_errors=True)


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    server = PgServer()
    # A PostgreSQL hub keeps its per-hub key file where the operator says (access key secrets
    # are encrypted with it); every test hub of the session, and hub processes, share this one.
    os.environ.setdefault("SECPIPE_HUB_SECRET_FILE", str(server.base / "hub.key"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request) -> str:
    return request.param


@pytest.fixture
def store_url(backend: str, tmp_path: Path, request) -> Iterator[str]:
    """A fresh, empty hub location on the test's backend."""
    if backend == "sqlite":
        yield str(tmp_path / "hub.db")
        return
    server: PgServer = request.getfixturevalue("pg_server")
    url = server.new_url()
    try:
        yield url
    finally:
        server.drop(url)


@pytest.fixture
def hub_db(store_url: str) -> str:
    """`store_url` under the name of the tests that start hub processes on it (not opened)."""
    return store_url


@pytest.fixture
def store(store_url: str) -> Iterator[SqlHubStore]:
    hub = open_store(store_url, account_id="123456789012")
    try:
        yield hub
    finally:
        hub.close()
