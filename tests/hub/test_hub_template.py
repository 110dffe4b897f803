"""A new SQLite hub copied from the migrated template is the hub the migrations would build."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from secpipe.hub import template
from secpipe.hub.store import _MIGRATIONS, open_store

ACCOUNT, REGION = "123456789012", "eu-west-1"


def _shape(path: Path) -> dict[str, object]:
    """Schema, pragmas persisted in the file, and every table's rows minus the first-open
    timestamps (which differ between any two hubs)."""
    with sqlite3.connect(path) as conn:
        schema = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master "
                              "ORDER BY type, name").fetchall()
        tables = [r[1] for r in schema if r[0] == "table"]
        rows = {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
        return {"schema": schema, "rows": rows,
                "version": conn.execute("SELECT version_num FROM secpipe_hub_version").fetchall(),
                "settings": conn.execute("SELECT key FROM hub_settings ORDER BY key").fetchall(),
                "page_size": conn.execute("PRAGMA page_size").fetchone(),
                "journal": conn.execute("PRAGMA journal_mode").fetchone()}


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(template.DISABLE_ENV, raising=False)
    return tmp_path / "cache"


def test_a_hub_from_the_template_equals_a_migrated_one(tmp_path: Path, cache: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    copied = tmp_path / "a" / "hub.db"
    with open_store(copied, account_id=ACCOUNT, region=REGION) as store:
        store.batch_import([])   # a usable hub
    kept = template.template_path(_MIGRATIONS, ACCOUNT, REGION)
    assert kept.is_file() and kept.parent.parent == cache / "secpipe"
    monkeypatch.setenv(template.DISABLE_ENV, "1")
    migrated = tmp_path / "b" / "hub.db"
    with open_store(migrated, account_id=ACCOUNT, region=REGION) as store:
        store.batch_import([])
    assert _shape(copied) == _shape(migrated)
    assert copied.stat().st_mode & 0o777 == 0o600


def test_the_partition_is_part_of_the_template_key(cache: Path) -> None:
    assert (template.template_path(_MIGRATIONS, ACCOUNT, REGION)
            != template.template_path(_MIGRATIONS, ACCOUNT, "us-east-1"))


def test_a_second_new_hub_runs_no_migration(tmp_path: Path, cache: Path) -> None:
    open_store(tmp_path / "first.db").close()
    code = ("import sys; from secpipe.hub.store import open_store; "
            f"open_store({str(tmp_path / 'second.db')!r}).close(); "
            "print('alembic' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "XDG_CACHE_HOME": str(cache)})
    assert out.stdout.strip() == "False"


def test_an_existing_file_is_never_replaced(tmp_path: Path, cache: Path) -> None:
    hub = tmp_path / "hub.db"
    with open_store(hub) as store:
        store.batch_import([])
    before = hub.read_bytes()
    assert template.seed_new_hub(hub, _MIGRATIONS, ACCOUNT, REGION, lambda p: None) is False
    assert hub.read_bytes() == before


def test_without_a_usable_cache_dir_the_hub_is_migrated(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    hub = tmp_path / "hub.db"
    open_store(hub).close()
    with sqlite3.connect(hub) as conn:
        assert conn.execute("SELECT count(*) FROM findings").fetchone() == (0,)
    assert not list(tmp_path.glob(".hub.db.*"))
