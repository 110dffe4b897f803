"""The audit trail's findings digests (SQLite and PostgreSQL): each BatchImportFindings and
BatchUpdateFindings row names its digest format, and its before/after digests recompute from
the stored findings with `audit.findings_state` in that format; rows of the first format
(without the marker) still recompute with version 1."""

from __future__ import annotations

import hashlib
import json

import pytest
from sqlalchemy import update

from secpipe.hub import audit
from secpipe.hub.authz import Principal
from secpipe.hub.schema import audit_log as A
from tests.hub.builders import finding

CI = Principal("sigv4", "SPKCIKEY0000000000001", role="ci")
T1 = "2024-05-02T10:00:00.000Z"


def _keys(docs):
    return [(d["Id"], d["ProductArn"]) for d in docs]


def _state(store, docs, version=audit.STATE_VERSION):
    with store._read() as conn:
        return audit.findings_state(conn, _keys(docs), version)


def _last(store, action):
    return next(r for r in store.audit_log(limit=20) if r["action"] == action)


def test_import_rows_carry_a_digest_that_recomputes_from_the_store(store):
    docs = [finding(f"f-{n}") for n in range(5)]
    assert store.batch_import(docs, principal=CI).success_count == 5
    row = _last(store, "BatchImportFindings")
    assert audit.state_version(row) == 2 and row["detail"][audit.STATE_KEY] == 2
    assert row["before"] == "" and row["after"] == _state(store, docs) != ""
    assert row["principal"] == CI.name and sorted(row["targets"]) == sorted(d["Id"] for d in docs)

    # the same documents again change nothing: after is before, both the stored state
    store.batch_import(docs, principal=CI)
    again = _last(store, "BatchImportFindings")
    assert again["seq"] > row["seq"]
    assert again["before"] == again["after"] == row["after"]

    # a newer UpdatedAt rewrites one finding: a new state, which recomputes
    newer = [*docs[:4], {**docs[4], "UpdatedAt": T1, "Title": "changed"}]
    store.batch_import(newer, principal=CI)
    changed = _last(store, "BatchImportFindings")
    assert changed["before"] == row["after"]
    assert changed["after"] == _state(store, docs) not in ("", row["after"])


def test_update_rows_carry_the_marker_and_recompute(store):
    doc = finding("f-upd")
    store.batch_import([doc], principal=CI)
    before = _state(store, [doc])
    store.batch_update([{"Id": doc["Id"], "ProductArn": doc["ProductArn"]}],
                       {"Workflow": {"Status": "SUPPRESSED"}}, principal=CI)
    row = _last(store, "BatchUpdateFindings")
    assert audit.state_version(row) == 2
    assert row["before"] == before and row["after"] == _state(store, [doc]) != before


def test_version_1_rows_still_verify(store):
    """A row written before the marker existed holds the canonical-JSON digest: version 1
    recomputes exactly that, and an unmarked row says version 1."""
    docs = [finding("f-old-1"), finding("f-old-2")]
    store.batch_import(docs, principal=CI)
    with store._read() as conn:
        stored = sorted(tuple(r) for r in conn.exec_driver_sql(
            "SELECT id, product_arn, doc FROM findings WHERE id IN ('f-old-1', 'f-old-2')"))
    text = json.dumps(sorted(list(t) for t in stored), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False)
    assert _state(store, docs, 1) == hashlib.sha256(text.encode()).hexdigest()
    assert _state(store, docs, 1) != _state(store, docs, 2)
    # an old row: v1 digest and no marker in its detail
    row = _last(store, "BatchImportFindings")
    with store._write() as conn:
        conn.execute(update(A).where(A.c.seq == row["seq"]).values(
            after=_state(store, docs, 1), detail=json.dumps({"created": 2})))
    old = _last(store, "BatchImportFindings")
    assert audit.state_version(old) == 1 and old["after"] == _state(store, docs, 1)
    with pytest.raises(ValueError):
        _state(store, docs, 3)


def test_digest_v2_is_unambiguous_and_ignores_unknown_keys(store):
    docs = [finding("a|b"), finding("a")]
    store.batch_import(docs, principal=CI)
    both = _state(store, docs)
    assert both not in (_state(store, docs[:1]), _state(store, docs[1:]))
    with store._read() as conn:
        assert audit.findings_state(conn, [("missing", "arn")]) == ""
        assert audit.findings_state(conn, [*_keys(docs), ("nope", "x"), (None, None)]) == both


def test_digest_v2_hashes_the_stored_utf8_text(store):
    """The v2 digest is SHA-256 over `len:Id len:ProductArn len:doc` of the stored text's
    UTF-8 bytes, sorted by (Id, ProductArn): recomputed here from the text the database
    returns, with characters of 2, 3 and 4 bytes so byte and character lengths differ."""
    docs = [finding("f-utf8-b", Title="caf\u00e9 \u2603 \U0001f512"), finding("f-utf8-a")]
    store.batch_import(docs, principal=CI)
    with store._read() as conn:
        stored = sorted(tuple(r) for r in conn.exec_driver_sql(
            "SELECT id, product_arn, doc FROM findings WHERE id IN ('f-utf8-a', 'f-utf8-b')"))
    h = hashlib.sha256()
    for triple in stored:
        for text in triple:
            raw = text.encode("utf-8")
            h.update(b"%d:" % len(raw) + raw)
    assert _state(store, docs) == h.hexdigest()
    assert _last(store, "BatchImportFindings")["after"] == h.hexdigest()
