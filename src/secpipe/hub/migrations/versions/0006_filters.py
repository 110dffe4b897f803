"""PostgreSQL: what the document filters need (`secpipe.hub.query_json`).

Revision ID: 0006_filters
Revises: 0005
Create Date: 2026-12-06

- `secpipe_ts(text)`: a timestamp in the hub's canonical form ("YYYY-MM-DDTHH:MM:SS.ffffffZ",
  UTC; no zone is UTC) or NULL when the text is none. A plain cast would fail the whole query
  on one bad value in one document. SQLite gets the same function from Python on connect.
- `secpipe_inet(text)`: an address (no prefix length) or NULL.
- `ix_findings_doc_gin`: GIN (jsonb_path_ops) on `doc::jsonb`, so an EQUALS on any key of
  the document, nested lists included, is an index lookup (`doc::jsonb @> ...`).

SQLite: nothing (its functions are registered per connection; see the module above).
"""

from __future__ import annotations

from alembic import op

revision = "0006_filters"
down_revision = "0005"
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


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(TS)
    op.execute(INET)
    op.execute("CREATE INDEX IF NOT EXISTS ix_findings_doc_gin ON findings "
               "USING gin ((doc::jsonb) jsonb_path_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_findings_doc_gin")
    op.execute("DROP FUNCTION IF EXISTS secpipe_inet(text)")
    op.execute("DROP FUNCTION IF EXISTS secpipe_ts(text)")
