"""A new SQLite hub starts as a copy of an empty hub migrated once, not by running every migration.

Why: migrating a new file through every alembic revision costs about 0.3 s of CPU and, on a
loaded machine, two seconds of wall time (alembic's import, a dozen DDL transactions, table
rebuilds). Every first `secpipe run` in a new output folder paid it: a fresh clone's demo, a CI
job with a clean workspace, and bench/pipeline_vs_serial.py's runs. The migrated empty file
depends only on the migration files and on the partition (account, region) the first open hands
migration 0008 as column defaults, so it is built once per (migration files' digest, SQLite
version, account, region) under secpipe's cache dir and then copied. Anything unusual (no cache
dir, a file already there, a file system without hard links) leaves the new hub to the normal
migration path: slower, never different.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

from secpipe.paths import cache_dir

DISABLE_ENV = "SECPIPE_NO_HUB_TEMPLATE"


def _digest(migrations: Path) -> str:
    h = hashlib.blake2b(digest_size=10)
    h.update(sqlite3.sqlite_version.encode())
    for path in sorted((migrations / "versions").glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def template_path(migrations: Path, account: str, region: str) -> Path:
    """Where the migrated empty hub for this schema and partition is kept."""
    return cache_dir() / "hub-template" / f"{_digest(migrations)}-{account}-{region}.db"


def _built(template: Path, build: Callable[[Path], None]) -> Path:
    if template.exists():
        return template
    template.parent.mkdir(parents=True, exist_ok=True)
    scratch = template.with_name(f".{template.name}.{os.getpid()}.build")
    for leftover in (scratch, Path(f"{scratch}-wal"), Path(f"{scratch}-shm"),
                     Path(f"{scratch}-writer")):
        leftover.unlink(missing_ok=True)
    try:
        build(scratch)      # migrates, checkpoints the WAL into the file and closes
        os.replace(scratch, template)   # atomic: a concurrent builder's copy is equal
    finally:
        for leftover in (scratch, Path(f"{scratch}-wal"), Path(f"{scratch}-shm"),
                         Path(f"{scratch}-writer")):
            leftover.unlink(missing_ok=True)
    return template


def seed_new_hub(path: Path, migrations: Path, account: str, region: str,
                 build: Callable[[Path], None]) -> bool:
    """Create the hub file at `path` as a copy of the migrated template; False when it did not
    (the file exists, templates are turned off, or the cache or the copy is not possible), in
    which case the caller migrates as before."""
    if os.environ.get(DISABLE_ENV) or path.exists():
        return False
    try:
        template = _built(template_path(migrations, account, region), build)
        from secpipe.secretkey import make_private_dir

        make_private_dir(path.parent)   # a folder it creates gets a `.gitignore` of `*`
        partial = path.with_name(f".{path.name}.{os.getpid()}.new")
        try:
            shutil.copyfile(template, partial)
            os.chmod(partial, 0o600)              # secrets live in the hub
            os.link(partial, path)                # never over a hub another process created
        finally:
            partial.unlink(missing_ok=True)
    except OSError:
        return False
    return True
