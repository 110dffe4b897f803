"""`stored.lookup` (importer._lookup) answers what the findings table holds for the keys
asked, whichever of its two queries it takes: keys of one product (the ARN in the query) or of
several (Ids alone, the answer filtered), on SQLite and PostgreSQL."""

from __future__ import annotations

import random

from sqlalchemy import select

from secpipe.hub import importer
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
