"""What the document filters need (`secpipe.hub.query_json`).

Revision ID: 0006_filters
Revises: 0005
Create Date: 2026-12-06

- `secpipe_ts(text)`: a timestamp in the hub's canonical form ("YYYY-MM-DDTHH:MM:SS.ffffffZ",
  UTC; no zone is UTC) or NULL when the text is none. A plain cast would fail the whole query
  on one bad value in one document. SQLite gets the same function from Python on connect.
- `secpipe_inet(text)`: an address (no prefix length) or NULL.
- `ix_findings_doc_gin`: GIN (jsonb_path_ops) on `doc::jsonb`, so an EQUALS on any key of
  the document, nested lists included, is an index lookup (`doc::jsonb @> ...`).

Both dialects: the `finding_map` rows of kind "X" (the values of the nested keys,
`filterspec.VALUE_INDEXED`) for the findings stored before this revision; the importer
writes them from now on (`validate.side_rows`). SQLite's functions are registered per
connection (see the module above).
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0006_filters"
down_revision = "0008_partition"   # re-chained by the merge
branch_labels = None
depends_on = None

TS = r"""
CREATE OR REPLACE FUNCTION secpipe_ts(t text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    IF t IS NULL OR t !~ '^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:?\d{2})?$'
    THEN
        RETURN NULL;
    END IF;
    IF t !~ '([Zz]|[+-]\d{2}:?\d{2})$' THEN
        t := t || '+00:00';
    END IF;
    t := regexp_replace(t, '(\.\d{6})\d+', '\1');   -- truncate to microseconds, as Python does
    RETURN to_char(t::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
EXCEPTION WHEN others THEN
    RETURN NULL;
END
$$
"""

INET = r"""
CREATE OR REPLACE FUNCTION secpipe_inet(t text) RETURNS inet
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    IF t IS NULL OR position('/' in t) > 0 THEN
        RETURN NULL;
    END IF;
    RETURN t::inet;
EXCEPTION WHEN others THEN
    RETURN NULL;
END
$$
"""


def _backfill(conn: sa.engine.Connection) -> None:
    from secpipe.hub.filtermatch import indexed_values
    from secpipe.hub.schema import MAP_VALUE_INDEXED, finding_map

    last = 0
    while True:
        rows = conn.execute(sa.text("SELECT pk, doc FROM findings WHERE pk > :last "
                                    "ORDER BY pk LIMIT 5000"), {"last": last}).all()
        if not rows:
            return
        out = [{"finding_pk": pk, "kind": kind, "key": key, "v": v, "full": None}
               for pk, doc in rows
               for kind, key, v in indexed_values(json.loads(doc), MAP_VALUE_INDEXED)
               if kind == "X"]      # the kinds added later are written by their revisions
        if out:
            conn.execute(sa.insert(finding_map), out)
        last = rows[-1][0]


def upgrade() -> None:
    _backfill(op.get_bind())
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(TS)
    op.execute(INET)
    op.execute("CREATE INDEX IF NOT EXISTS ix_findings_doc_gin ON findings "
               "USING gin ((doc::jsonb) jsonb_path_ops)")


def downgrade() -> None:
    op.execute("DELETE FROM finding_map WHERE kind = 'X'")
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_findings_doc_gin")
    op.execute("DROP FUNCTION IF EXISTS secpipe_inet(text)")
    op.execute("DROP FUNCTION IF EXISTS secpipe_ts(text)")
