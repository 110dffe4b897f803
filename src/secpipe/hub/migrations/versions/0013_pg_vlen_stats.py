"""PostgreSQL statistics on the length of finding_map values.

A positive CONTAINS on a nested key reads that key's value rows and, for rows cut at 256
characters, the document (`hub.query_contains`). The planner had no estimate for
`length(v) >= 256` (it assumes a third of the rows), so with LIMIT and a sort it preferred
scanning every finding in UpdatedAt order: 7.7 s for a rare CONTAINS at 1M findings, against
32 ms from the value rows once the expression has statistics (PostgreSQL 14+: expression
statistics; older servers keep the old estimate).

Revision ID: 0013_pg_vlen_stats
Revises: 0012_query_idx
"""

from __future__ import annotations

from alembic import op

revision = "0013_pg_vlen_stats"
down_revision = "0012_query_idx"
branch_labels = None
depends_on = None


def _expression_statistics() -> bool:
    bind = op.get_bind()
    return bind.dialect.name == "postgresql" and bind.dialect.server_version_info >= (14,)


def upgrade() -> None:
    if _expression_statistics():
        op.execute("CREATE STATISTICS IF NOT EXISTS st_finding_map_vlen ON (length(v)) "
                   "FROM finding_map")
        op.execute("ANALYZE finding_map")


def downgrade() -> None:
    if _expression_statistics():
        op.execute("DROP STATISTICS IF EXISTS st_finding_map_vlen")
