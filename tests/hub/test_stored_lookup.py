"""`stored.lookup` (importer._lookup) answers what the findings table holds for the keys
asked, whichever of its two queries it takes: keys of one product (the ARN in the query) or of
several (Ids alone, the answer filtered), on SQLite and PostgreSQL."""

from __future__ import annotations

import random

import pytest

from sqlalchemy import select

from secpipe.hub import importer
from secpipe.hub.interface import InvalidInput
from secpipe.hub.schema import findings as F
from tests.hub.builders import ARN, finding

OTHER = ARN.replace("/default", "/other")


def reference(store, keys):
    """The stored (pk, updated_at, digest) of `keys`, read plainly from the table."""
    part = store._part(None)
    with store.engine.connect() as conn:
        rows = conn.execute(select(F.c.id, F.c.product_arn, F.c.pk, F.c.updated_at, F.c.digest)
                            .where(F.c.hub_account == part.account,
                                   F.c.hub_region == part.region)).all()
    wanted = set(keys)
    return {(r[0], r[1]): (r[2], r[3], r[4]) for r in rows if (r[0], r[1]) in wanted}


def test_lookup_answers_what_the_table_holds(store):
    docs = ([finding(f"a{i}") for i in range(6)] + [finding(f"b{i}", ProductArn=OTHER)
                                                     for i in range(4)]
            + [finding("a0", ProductArn=OTHER)])
    result = store.bulk_import(docs)
    assert result.failed == [], result.failed
    stored = [(d["Id"], d["ProductArn"]) for d in docs]
    absent = [("a9", ARN), ("b9", OTHER), ("b0", ARN), ("a1", OTHER), ("a2", ARN + "x")]
    cases = [stored, [k for k in stored if k[1] == ARN], [k for k in stored if k[1] == OTHER],
             [("a0", ARN), ("a0", OTHER)], [("a0", OTHER)], absent, absent[:1], [],
             stored + stored, [("a\x00", ARN), ("a1", ARN)], [("a1", ARN + "\x00")],
             [("a1", ARN + "\x00"), ("a1", ARN)]]
    rng = random.Random(5)
    for _ in range(30):
        cases.append(rng.sample(stored + absent, rng.randrange(1, 12)))
    part = store._part(None)
    with store._read() as conn:
        for keys in cases:
            assert importer._lookup(conn, keys, part) == reference(store, keys), keys
    if store.dialect == "sqlite":            # (PostgreSQL refuses a surrogate in any case)
        with store._read() as conn:
            assert importer._lookup(conn, [("a1", ARN + "\ud800")], part) == {}


def test_an_id_no_driver_can_bind_fails_alone(store):
    """An Id holding a lone surrogate (or NUL) used to reach the key lookup's query, where the
    driver's UnicodeEncodeError failed the whole import: now that finding alone fails, in the
    checks, on the first import and on one into a hub that holds the others already."""
    first = store.bulk_import([finding("ok1"), finding("bad\ud800"), finding("nul\x00")])
    assert first.success_count == 1
    assert sorted(f["Id"] for f in first.failed) == ["bad\ud800", "nul\x00"]
    again = store.bulk_import([finding("ok1"), finding("ok2"), finding("bad\ud800")])
    assert (again.success_count, [f["Id"] for f in again.failed]) == (2, ["bad\ud800"])
    # BatchImportFindings measures its request as UTF-8 first: a request no client could
    # send is refused whole, as a clear InvalidInput, and stores nothing
    with pytest.raises(InvalidInput, match="surrogates"):
        store.batch_import([finding("ok3"), finding("bad\udc80", ProductArn=OTHER)])
    ids = {f["Id"] for f in store.get_findings(max_results=100)[0]}
    assert ids == {"ok1", "ok2"}
