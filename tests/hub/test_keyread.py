"""SigV4's key lookup on a SQLite hub reads the key's row on one kept connection
(`secpipe.hub.keyread`): the same answer as the SQLAlchemy lookup (`keys.key_record`) for
every kind of row, a revocation made by another connection effective at the next lookup, no
read transaction left open, and a served session answered exactly as with the old lookup.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest
from sqlalchemy import update

from secpipe.hub import keys
from secpipe.hub.api import create_app, running_server
from secpipe.hub.api.isolation import UNLIMITED
from secpipe.hub.authz import Scope
from secpipe.hub.schema import access_keys as K
from secpipe.hub.store import open_store
from tests.hub.test_api_support import (Hub, comparable, import_session, make_finding,
                                        raw_request, signed_request)

ENV_ID, ENV_SECRET = "SPKFROMENVIRONMENT00", "e" * 40


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Any]:
    store = open_store(str(tmp_path / "hub.db"), account_id="123456789012")
    try:
        yield store
    finally:
        store.close()


def _old_lookup(store: Any, akid: str) -> keys.KeyRecord | None:
    """The lookup as it was: a pooled SQLAlchemy read."""
    with store._read() as conn:
        return keys.key_record(conn, store.cipher, akid)


def _outcome(lookup: Any, store: Any, akid: str) -> Any:
    """A lookup's record, or the type of what it raised (the same error is the same answer)."""
    try:
        return lookup(store, akid)
    except Exception as exc:  # noqa: BLE001 - compared, not swallowed
        return type(exc)


def test_every_kind_of_row_reads_as_the_sqlalchemy_lookup(sqlite_store: Any,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    store = sqlite_store
    assert store.key_reader is not None
    monkeypatch.setenv(keys.ENV_KEY_ID, ENV_ID)
    monkeypatch.setenv(keys.ENV_SECRET, ENV_SECRET)
    admin, _ = store.create_access_key("admin")
    scoped, _ = store.create_access_key("ci", role="ci",
                                        scope=Scope(accounts=("4444*",)))
    revoked, _ = store.create_access_key("gone", role="read")
    store.revoke_access_key(revoked)
    with store._write() as conn:     # a key made before migration 0003: its secret in clear
        conn.execute(K.insert().values(akid="SPKLEGACYCLEAR000000", secret="c" * 40,
                                       secret_enc=None, label="", created_at="2020",
                                       disabled=False, role="admin", scope="{}"))
    cases = [admin, scoped, revoked, "SPKLEGACYCLEAR000000", ENV_ID, "SPKNOSUCHKEY00000000",
             "", "SPK\u0000x", "SPK\u00e9"]
    for akid in cases:
        new = _outcome(lambda st, a: st.key_record(a), store, akid)
        assert new == _outcome(_old_lookup, store, akid), akid
    # a key id that is not ASCII is an unknown key beside the environment's, not an error
    assert _outcome(lambda st, a: st.key_record(a), store, "SPK\u00e9") is None
    assert store.key_record(scoped).scope.accounts == ("4444*",)
    assert store.key_record(ENV_ID).secret == ENV_SECRET
    assert store.key_record(revoked) is None
    # the environment's key id held by the database: its row (here: revoked) wins
    with store._write() as conn:
        conn.execute(update(K).where(K.c.akid == revoked).values(akid=ENV_ID))
    assert store.key_record(ENV_ID) is None and _old_lookup(store, ENV_ID) is None


def test_another_connections_change_counts_at_the_next_lookup(sqlite_store: Any,
                                                              tmp_path: Path) -> None:
    """No cache: a key made, re-roled or revoked by another store (another process's
    connections) is seen by the very next lookup."""
    store = sqlite_store
    assert store.key_record("SPKNOSUCHKEY00000000") is None
    other = open_store(str(tmp_path / "hub.db"))
    try:
        akid, secret = other.create_access_key("late", role="read")
        assert store.key_record(akid).secret == secret        # not remembered as missing
        with other._write() as conn:
            conn.execute(update(K).where(K.c.akid == akid).values(role="ci"))
        assert store.key_record(akid).role == "ci"
        other.revoke_access_key(akid)
        assert store.key_record(akid) is None
    finally:
        other.close()


def test_lookups_leave_no_read_transaction_open(sqlite_store: Any) -> None:
    """A statement left unfinished would hold its read mark and keep the WAL from starting
    over; after lookups a TRUNCATE checkpoint on another connection must complete."""
    store = sqlite_store
    akid, _ = store.create_access_key("x")
    for _ in range(3):
        assert store.key_record(akid) is not None
        assert store.key_record("SPKNOSUCHKEY00000000") is None
    store.batch_import([make_finding("wal", 0)])
    with store.engine.connect() as conn:
        busy, _log, _done = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
    assert busy == 0


def test_threads_share_the_kept_connection(sqlite_store: Any) -> None:
    store = sqlite_store
    akid, secret = store.create_access_key("x")
    seen: list[Any] = []
    errors: list[BaseException] = []

    def look() -> None:
        try:
            for _ in range(200):
                seen.append(store.key_record(akid).secret)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=look) for _ in range(6)]
    for t in threads:
        t.start()
    store.batch_import([make_finding("threads", n) for n in range(20)])   # commits meanwhile
    for t in threads:
        t.join()
    assert not errors and seen == [secret] * 1200


def _child_lookup(store: Any, akid: str, out: Any) -> None:
    store.key_reader.close()              # the parent's connection: kept aside, not closed
    rec = store.key_record(akid)          # on a connection of the child's
    out.put(None if rec is None else rec.secret)


def test_a_forked_child_reads_on_a_connection_of_its_own(sqlite_store: Any) -> None:
    store = sqlite_store
    akid, secret = store.create_access_key("x")
    assert store.key_record(akid).secret == secret            # the parent's connection opened
    parents = store.key_reader._conn
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    child = ctx.Process(target=_child_lookup, args=(store, akid, out))
    child.start()
    assert out.get(timeout=30) == secret
    child.join(timeout=30)
    assert child.exitcode == 0
    assert store.key_reader._conn is parents and store.key_record(akid).secret == secret


def test_an_in_memory_hub_keeps_the_pooled_lookup() -> None:
    """Its one connection is every thread's: nothing is kept aside."""
    store = open_store("sqlite://")
    try:
        assert store.key_reader is None
        akid, secret = store.create_access_key("x")
        assert store.key_record(akid).secret == secret
    finally:
        store.close()


# --- served: the same session answered the same with the old lookup and the new one ---------

def _served(path: Path, lean: bool, opened: list) -> Any:
    store = open_store(f"sqlite:///{path}")
    if not lean:
        store.key_reader = None          # the pooled SQLAlchemy lookup, as before
    opened.append(store)
    return create_app(store, limits=UNLIMITED)


def _session(hub: Hub, batch: list[dict[str, Any]]) -> list[Any]:
    """New, unchanged and partly invalid imports, a read, bad JSON, a wrong secret, then an
    unknown key, a key revoked between two calls, no signature."""
    body = json.dumps({"Findings": batch}).encode()
    short_id, short_secret = hub.store.create_access_key("short-lived", role="ci")
    short = Hub(hub.url, hub.store, short_id, short_secret)
    answers = import_session(hub, batch) + [
        signed_request(Hub(hub.url, hub.store, "SPKNOSUCHKEY00000000", "x" * 40), "POST",
                       "/findings/import", body),
        signed_request(short, "POST", "/findings/import", body),
        signed_request(short, "POST", "/findings", b"{}"),          # ci: not a reader
    ]
    hub.store.revoke_access_key(short_id)
    answers += [
        signed_request(short, "POST", "/findings/import", body),
        raw_request(hub.url + "/findings", "POST", b"{}"),
    ]
    # each hub made its own short-lived key, named in an AccessDenied message
    return json.loads(json.dumps(comparable(answers)).replace(short_id, "SHORT-LIVED-KEY"))


def test_a_served_session_answers_as_with_the_pooled_lookup(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    monkeypatch.setenv(keys.ENV_KEY_ID, ENV_ID)
    monkeypatch.setenv(keys.ENV_SECRET, ENV_SECRET)
    batch = [make_finding("keys", n) for n in range(20)]
    opened: list = []
    try:
        with running_server(_served(tmp_path / "old.db", False, opened)) as old, \
                running_server(_served(tmp_path / "new.db", True, opened)) as new:
            before = _session(Hub(old, opened[0], ENV_ID, ENV_SECRET), batch)
            after = _session(Hub(new, opened[1], ENV_ID, ENV_SECRET), batch)
    finally:
        for store in opened:
            store.close()
    assert after == before
    assert [status for status, _, _ in after] == [200, 200, 200, 200, 400, 403, 403, 200, 403,
                                                  403, 403]
    assert opened[1].key_reader is not None and opened[0].key_reader is None
