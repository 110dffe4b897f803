"""The images a run built or deployed, so runtime alerts can be tied to the run that shipped them.

Revision ID: 0002_run_images
Revises: 0001_initial
Create Date: 2026-06-02

One row per (run, image, role). A Falco alert names its container image by repository, tag
and/or digest; the indexes serve the two lookups the intake makes: by digest (exact), else by
repository and tag.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_run_images"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def Str(length: int) -> sa.types.TypeEngine:
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "run_images",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", Str(128), nullable=False),
        sa.Column("repository", Str(512), nullable=False),
        sa.Column("tag", Str(128), nullable=False),
        sa.Column("digest", Str(128), nullable=False),
        sa.Column("stage", Str(128), nullable=False),
        sa.Column("role", Str(16), nullable=False),
        sa.Column("recorded_at", Str(32), nullable=False),
        sa.UniqueConstraint("run_id", "repository", "tag", "digest", "role",
                            name="uq_run_images"),
    )
    op.create_index("ix_run_images_digest", "run_images", ["digest"])
    op.create_index("ix_run_images_repo_tag", "run_images", ["repository", "tag"])


def downgrade() -> None:
    op.drop_table("run_images")
