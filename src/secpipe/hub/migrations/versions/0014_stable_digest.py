"""A finding's stable digest: what lets a re-run's unchanged findings skip their validation.

Revision ID: 0014_stable_digest
Revises: 0013_pg_vlen_stats

`findings.stable` is written by a run's import (`secpipe.hub.run_stable`) and holds three
things: a digest of the provider's document as sent with the stamps every run moves left out
(UpdatedAt, First/LastObservedAt, ProcessedAt, the run provenance in ProductFields), a digest
of the stored document and `locked` list it produced, and the bytes its volatile values may
still grow by before the 240 KB limit. NULL (every row written before this revision, and rows
no run wrote) means "unknown": the next run checks the finding in full, as before, and fills
it. No index: it is read with the row found by the (Id, ProductArn) key.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_stable_digest"
down_revision = "0013_pg_vlen_stats"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("findings", sa.Column("stable", sa.String(96)))   # no table rewrite


def downgrade() -> None:
    with op.batch_alter_table("findings") as batch:   # SQLite before 3.35 cannot drop
        batch.drop_column("stable")
