"""Value rows for FindingProviderFields*, ResourceDetailsOther and empty strings.

Revision ID: 0011_fpf_rows
Revises: 0006_filters
Create Date: 2026-12-06

`filtermatch.indexed_values` now also writes (see `hub.query_fpf`):
- kind "X" rows of FindingProviderFieldsConfidence / Criticality, and of the FPF keys with a
  twin where they differ from it, with a kind "D" marker row;
- kind "O" rows, one per entry of Resources[].Details.Other;
- kind "X" rows for empty strings (EQUALS "" on a nested key).

This revision brings the findings stored before it to exactly those rows: per batch of
findings it compares the rows of kinds X, D and O in finding_map with the ones the current
code computes, deletes the extra ones and inserts the missing ones. Re-running it finds
nothing to change. No schema change (the rows fit finding_map as it is), so downgrade
removes the new kinds and leaves the X rows (0006's, a superset there is harmless: the
document check of the previous code confirms every candidate).
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0011_fpf_rows"
down_revision = "0006_filters"   # re-chained by the merge
branch_labels = None
depends_on = None

KINDS = ("X", "D", "O")
BATCH = 2000


def _backfill(conn: sa.engine.Connection) -> tuple[int, int]:
    """(rows deleted, rows inserted)."""
    from secpipe.hub.filtermatch import indexed_values
    from secpipe.hub.schema import MAP_VALUE_INDEXED, finding_map as m

    deleted = inserted = 0
    last = 0
    while True:
        docs = conn.execute(sa.text("SELECT pk, doc FROM findings WHERE pk > :last "
                                    "ORDER BY pk LIMIT :n"), {"last": last, "n": BATCH}).all()
        if not docs:
            return deleted, inserted
        lo, hi = docs[0][0], docs[-1][0]
        want = {(pk, kind, key, v, full) for pk, doc in docs
                for (kind, key, v), full in indexed_values(json.loads(doc),
                                                           MAP_VALUE_INDEXED).items()}
        have = {tuple(r) for r in conn.execute(
            sa.select(m.c.finding_pk, m.c.kind, m.c.key, m.c.v, m.c.full).where(
                m.c.finding_pk.between(lo, hi), m.c.kind.in_(KINDS)))}
        extra = [r[:4] for r in have - want]
        if extra:
            conn.execute(sa.delete(m).where(
                m.c.finding_pk == sa.bindparam("p"), m.c.kind == sa.bindparam("k"),
                m.c.key == sa.bindparam("y"), m.c.v == sa.bindparam("w")),
                [dict(zip(("p", "k", "y", "w"), r)) for r in extra])
        missing = [dict(zip(("finding_pk", "kind", "key", "v", "full"), r))
                   for r in want - have]
        if missing:
            conn.execute(sa.insert(m), missing)
        deleted += len(extra)
        inserted += len(missing)
        last = hi


def upgrade() -> None:
    _backfill(op.get_bind())


def downgrade() -> None:
    op.execute("DELETE FROM finding_map WHERE kind IN ('D', 'O')")
