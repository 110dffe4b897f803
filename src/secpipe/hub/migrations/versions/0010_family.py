"""Custom actions (action targets) and resource tags.

Revision ID: 0010_family
Revises: 0005
Create Date: 2026-12-06

`action_targets`: CreateActionTarget's custom actions, kept per account and region
(hub_account, hub_region) as Security Hub keeps them; the ARN carries both.
`resource_tags`: TagResource's tags of the hub, insights and automation rules, one row per
(ARN, key). No foreign key: the tagged resources live in different tables, and deleting a
resource deletes its tags in the same transaction (see `secpipe.hub.tags`).

The revision id is the one the brief gives; the lead re-chains revisions when merging.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_family"
down_revision = "0009_rules"
branch_labels = None
depends_on = None


def Str(length: int) -> sa.types.TypeEngine:
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "action_targets",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("arn", Str(256), nullable=False, unique=True),
        sa.Column("hub_account", Str(16), nullable=False),
        sa.Column("hub_region", Str(32), nullable=False),
        sa.Column("target_id", Str(20), nullable=False),
        sa.Column("name", Str(20), nullable=False),
        sa.Column("description", Str(256), nullable=False),
        sa.Column("created_at", Str(32), nullable=False),
    )
    op.create_index("ix_action_targets_partition", "action_targets",
                    ["hub_account", "hub_region", "seq"])
    op.create_table(
        "resource_tags",
        sa.Column("arn", Str(256), nullable=False),
        sa.Column("key", Str(128), nullable=False),
        sa.Column("value", Str(256), nullable=False),
        sa.PrimaryKeyConstraint("arn", "key", name="pk_resource_tags"),
    )


def downgrade() -> None:
    op.drop_table("resource_tags")
    op.drop_index("ix_action_targets_partition", table_name="action_targets")
    op.drop_table("action_targets")
