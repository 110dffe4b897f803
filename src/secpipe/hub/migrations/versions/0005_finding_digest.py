"""A digest of the provider's document on each finding, for the unchanged re-import skip path.

Revision ID: 0005
Revises: 0002
Create Date: 2026-12-06

`findings.digest` holds a digest of the document a provider sent the last time the finding was
created or updated by an import (NULL for rows written before this revision and for the hub's
own provider-side changes). A re-import of a byte-identical document with an UpdatedAt that is
not newer would be validated only to be ignored; the importer recognises it by this digest and
skips the validation (see `secpipe.hub.importer`). No index: it is read with the row found by
the (Id, ProductArn) key.

The revision id is the one the brief gives ("0005" after "0002"); the merge re-chains it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0002_run_images"   # "0002" in the brief: the real id of revision 0002
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("findings", sa.Column("digest", sa.String(32)))   # no table rewrite


def downgrade() -> None:
    with op.batch_alter_table("findings") as batch:   # SQLite before 3.35 cannot drop
        batch.drop_column("digest")
