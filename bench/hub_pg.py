"""A throwaway local PostgreSQL server for the hub benchmarks (the tests have their own).

As root, PostgreSQL refuses to start, so the cluster belongs to the `postgres` system user (or
`nobody`) and the binaries run through `runuser`. fsync stays on: the figures should be those
of a real server.
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
    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="secpipe-bench-pg-"))
        self.data, self.sock = self.base / "data", self.base / "sock"
        self.sock.mkdir()
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

    def new_db(self, name: str) -> str:
        import psycopg

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        try:
            self._run([_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"])
        finally:
            shutil.rmtree(self.base, ignore_errors=True)
