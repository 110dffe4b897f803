"""Opening a hub: locations, migrations, pragmas, and what is stored how."""

from __future__ import annotations

import shutil
import stat
from importlib import resources

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from secpipe.hub import open_store
from secpipe.hub.interface import HubError
from secpipe.hub.schema import metadata
from secpipe.hub.store import _url_for
from tests.hub.builders import finding


def test_default_location_is_the_projects_secpipe_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with open_store() as store:
        store.batch_import([finding("a")])
        assert store.dialect == "sqlite"
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1      # NORMAL
    db = tmp_path / ".secpipe" / "hub.db"
    assert db.is_file()
    assert stat.S_IMODE(db.stat().st_mode) == 0o600          # access key secrets live here


def test_locations_and_urls(tmp_path):
    assert _url_for(tmp_path / "x.db") == (f"sqlite:///{tmp_path / 'x.db'}", tmp_path / "x.db")
    assert _url_for("postgres://u@h/db")[0] == "postgresql+psycopg://u@h/db"
    assert _url_for("postgresql://u@h:5/db")[0] == "postgresql+psycopg://u@h:5/db"
    assert _url_for("sqlite:///tmp/hub.db")[0] == "sqlite:///tmp/hub.db"
    with open_store(f"sqlite:///{tmp_path / 'via-url.db'}") as store:
        assert store.count_findings() == 0
    with open_store("sqlite:///:memory:") as store:
        store.batch_import([finding("a")])
        assert store.count_findings() == 1


def _head() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("secpipe.hub.migrations")))
    return ScriptDirectory.from_config(cfg).get_current_head()


def test_migrations_build_exactly_the_declared_schema(store):
    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"version_table": "secpipe_hub_version"})
        # the one head of the revision chain (the merges re-chained the branches' revisions:
        # 0005 -> 0007_products -> 0009_rules -> 0010_family -> 0008_partition -> 0006_filters
        # -> 0011_fpf_rows -> 0012_query_idx -> 0013_pg_vlen_stats)
        assert ctx.get_current_revision() == _head() == "0013_pg_vlen_stats"
        # an index declared for another dialect only (`ddl_if`) is rightly absent here
        elsewhere = {ix.name for table in metadata.tables.values() for ix in table.indexes
                     if ix._ddl_if is not None and ix._ddl_if.dialect != store.dialect}
        diff = compare_metadata(ctx, metadata)
        assert [d for d in diff if not (d[0] == "add_index" and d[1].name in elsewhere)] == []


def test_reopening_keeps_the_data_and_does_not_migrate_again(store_url):
    with open_store(store_url) as first:
        first.batch_import([finding("a")])
    with open_store(store_url) as again:
        assert again.count_findings() == 1


def test_a_fresh_postgresql_database_is_migrated_on_open(pg_server):
    url = pg_server.new_url(migrated=False)
    try:
        with open_store(url) as store:
            store.batch_import([finding("a")])
            assert store.count_findings() == 1
            assert store.dialect == "postgresql"
    finally:
        pg_server.drop(url)


def test_migrations_ship_as_package_data():
    folder = resources.files("secpipe.hub.migrations")
    assert folder.joinpath("env.py").is_file()
    assert folder.joinpath("script.py.mako").is_file()
    assert folder.joinpath("versions").joinpath("0001_initial.py").is_file()


def test_passwords_are_hashed_and_key_secrets_encrypted_at_rest(store):
    store.set_user_password("admin", "correct horse", role="admin")
    akid, secret = store.create_access_key("ci", role="ci")
    with store.engine.connect() as conn:
        stored = conn.execute(text("SELECT pw_hash FROM users")).scalar()
        clear, sealed = conn.execute(text("SELECT secret, secret_enc FROM access_keys")).one()
    assert "correct horse" not in stored and stored.startswith("scrypt$")
    assert clear == "" and sealed.startswith("v1:") and secret not in sealed
    assert store.secret_for(akid) == secret        # SigV4 still gets the usable secret
    # The ciphertext is bound to its key id: moved onto another key it does not open.
    other, _ = store.create_access_key("other", role="read")
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE access_keys SET secret_enc = :s WHERE akid = :a"),
                     {"s": sealed, "a": other})
    with pytest.raises(HubError, match="does not decrypt"):
        store.secret_for(other)


def test_key_file_sits_beside_a_sqlite_hub_0600(tmp_path, monkeypatch):
    monkeypatch.delenv("SECPIPE_HUB_SECRET_FILE", raising=False)
    with open_store(tmp_path / "hub.db") as store:
        store.create_access_key("ci", role="ci")
    key = tmp_path / "hub.db.key"   # one per-hub secret (fingerprints too)
    assert key.is_file() and stat.S_IMODE(key.stat().st_mode) == 0o600
    # another hub's key file cannot open these secrets
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(tmp_path / "hub.db", copy / "hub.db")
    with open_store(copy / "hub.db") as store:
        with pytest.raises(HubError, match="does not decrypt"):
            store.secret_for(store.list_access_keys()[0]["AccessKeyId"])


def test_clear_secrets_of_old_keys_are_encrypted_on_open(store_url):
    with open_store(store_url) as store:
        with store.engine.begin() as conn:   # a key as revision 0002 stored it
            conn.execute(text("INSERT INTO access_keys (akid, secret, label, created_at, "
                              "disabled) VALUES ('SPKOLDKEY00000000000', :s, 'old', "
                              "'2026-01-01T00:00:00.000000Z', false)"), {"s": "o" * 40})
    with open_store(store_url) as store:
        with store.engine.connect() as conn:
            clear, sealed, role = conn.execute(text(
                "SELECT secret, secret_enc, role FROM access_keys")).one()
        assert clear == "" and sealed.startswith("v1:") and role == "admin"
        assert store.secret_for("SPKOLDKEY00000000000") == "o" * 40
        assert store.audit_log(action="EncryptLegacyKeys")[0]["detail"] == {"keys": 1}


@pytest.mark.parametrize("bad", ["ftp://x", 42])
def test_unusable_locations_fail_loudly(bad, tmp_path):
    with pytest.raises(Exception):
        open_store(bad)
