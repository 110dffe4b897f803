"""Migration 0003 on a hub that was in use before roles: keys become admin (secrets encrypted
on open), users triage, the token runtime, old runs stay trusted baselines."""

from __future__ import annotations

from typing import Iterator

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text

from secpipe.hub.store import _MIGRATIONS, SqlHubStore, _sqlite_engine, _url_for, open_store
from tests.hub.builders import finding


@pytest.fixture
def old_hub(backend: str, tmp_path, request) -> Iterator[str]:
    """A hub at revision 0002 with a key, a user and a run, as the previous release left it."""
    if backend == "sqlite":
        url = str(tmp_path / "hub.db")
        engine = _sqlite_engine(*_url_for(url), False)
    else:
        pg = request.getfixturevalue("pg_server")
        url = pg.new_url(migrated=False)
        from sqlalchemy import create_engine
        engine = create_engine(_url_for(url)[0])
    store = SqlHubStore(engine)
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    with store._write() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0002_run_images")
        conn.execute(text("INSERT INTO access_keys (akid, secret, label, created_at, disabled) "
                          "VALUES ('SPKBEFOREROLES000000', :s, 'ci', '2026-01-01T00:00:00Z', "
                          "false)"), {"s": "b" * 40})
        conn.execute(text("INSERT INTO users (name, pw_hash, updated_at) VALUES "
                          "('alice', 'scrypt$1$1$1$AA==$AA==', '2026-01-01T00:00:00Z')"))
        conn.execute(text(
            "INSERT INTO runs (run_id, repo, branch, \"commit\", started_at, finished_at, status,"
            " exit_code, summary, scope, recorded_at) VALUES ('old-1', 'acme/web', 'main', 'c',"
            " 's', 'f', 'passed', 0, '{}', '[]', '2026-01-01T00:00:00Z')"))
    engine.dispose()
    try:
        yield url
    finally:
        if backend != "sqlite":
            pg.drop(url)


def test_upgrade_keeps_every_credential_working_with_an_explicit_role(old_hub: str) -> None:
    with open_store(old_hub) as store:
        [key] = store.list_access_keys()
        assert key["Role"] == "admin" and key["Enabled"]
        assert store.secret_for("SPKBEFOREROLES000000") == "b" * 40
        with store.engine.connect() as conn:
            clear, sealed = conn.execute(text("SELECT secret, secret_enc FROM access_keys")).one()
        assert clear == "" and sealed.startswith("v1:")
        assert store.list_users()[0]["Role"] == "triage"
        assert store.user_session("alice") == ("triage", 0)
        # the pre-upgrade run is still main's baseline (written by `legacy`)
        assert store.baseline_ids("acme/web", "main") == set()   # it observed nothing
        from secpipe.hub.interface import RunRecord
        store.record_run(RunRecord("new-1", "acme/web", "main", "c", "s", "f", "passed", 0, {},
                                   [("sast", "bandit")]),
                         [finding("x", ProductFields={"secpipe/Stage": "sast",
                                                      "secpipe/Tool": "bandit"})])
        assert store.get_run("new-1") and store.run_diff("new-1").baseline_run_id == "old-1"
