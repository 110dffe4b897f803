"""A digest of the provider's document on each finding (the unchanged re-import skip path);
on PostgreSQL, indexes that let GetFindings pages use index-only scans.

Revision ID: 0005
Revises: 0002
Create Date: 2026-12-06

`findings.digest` holds a digest of the document a provider sent the last time the finding was
created or updated by an import (NULL for rows written before this revision and for the hub's
own provider-side changes). A re-import of a byte-identical document with an UpdatedAt that is
not newer would be validated only to be ignored; the importer recognises it by this digest and
skips the validation (see `secpipe.hub.importer`). No index: it is read with the row found by
the (Id, ProductArn) key.

On PostgreSQL: `ix_findings_narrow` (pk INCLUDE the hot filter and sort columns) and the side
tables' lookup indexes rebuilt with INCLUDE (finding_pk); see `secpipe.hub.schema`. SQLite's
WITHOUT ROWID indexes already hold finding_pk, and SQLite would not use the narrow index.

The revision id is the one the brief gives ("0005" after "0002"); the merge re-chains it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004_falco_dead_letters"   # after roles, audit and dead letters
branch_labels = None
depends_on = None


SIDE_INDEXES = (("ix_finding_types_type", "finding_types", ["type"]),
                ("ix_finding_resources_type", "finding_resources", ["type"]),
                ("ix_finding_resources_id", "finding_resources", ["id"]),
                ("ix_finding_map_kv", "finding_map", ["kind", "key", "v"]))
NARROW = ["severity_rank", "workflow_status", "record_state", "severity_normalized",
          "updated_at"]


def upgrade() -> None:
    op.add_column("findings", sa.Column("digest", sa.String(32)))   # no table rewrite
    if op.get_bind().dialect.name != "postgresql":
        return
    op.create_index("ix_findings_narrow", "findings", ["pk"], postgresql_include=NARROW)
    for name, table, cols in SIDE_INDEXES:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, cols, postgresql_include=["finding_pk"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, table, cols in SIDE_INDEXES:
            op.drop_index(name, table_name=table)
            op.create_index(name, table, cols)
        op.drop_index("ix_findings_narrow", table_name="findings")
    with op.batch_alter_table("findings") as batch:   # SQLite before 3.35 cannot drop
        batch.drop_column("digest")
