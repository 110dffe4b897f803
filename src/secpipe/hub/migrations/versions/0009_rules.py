"""Automation rules (Security Hub's CreateAutomationRule & co.): one row per rule, kept per
account and region.

Revision ID: 0009_rules
Revises: 0007_products (first written after 0005)
Create Date: 2026-12-06

`criteria` and `actions` hold the request's JSON as given (checked when written); `tags` the
rule's tags. `creator_role` is the role of the principal that created or last changed the rule:
a rule is a standing triage decision, so the pipeline's gate only honours suppressions made by a
rule whose writer may triage (`secpipe.hub.suppressed`).

The revision id is the one the brief gives ("0009_rules" after "0005"); the merge re-chains it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_rules"
down_revision = "0007_products"   # re-chained after main's products (was "0005")
branch_labels = None
depends_on = None


def Str(length: int) -> sa.types.TypeEngine:
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "automation_rules",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("arn", Str(256), nullable=False, unique=True),
        sa.Column("hub_account", Str(16), nullable=False),
        sa.Column("hub_region", Str(32), nullable=False),
        sa.Column("rule_order", sa.Integer, nullable=False),
        sa.Column("name", Str(256), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("status", Str(16), nullable=False),
        sa.Column("is_terminal", sa.Boolean, nullable=False),
        sa.Column("criteria", sa.Text, nullable=False),
        sa.Column("actions", sa.Text, nullable=False),
        sa.Column("tags", sa.Text, nullable=False),
        sa.Column("created_at", Str(32), nullable=False),
        sa.Column("updated_at", Str(32), nullable=False),
        sa.Column("created_by", Str(160), nullable=False),
        sa.Column("creator_role", Str(16), nullable=False),
    )
    op.create_index("ix_automation_rules_partition", "automation_rules",
                    ["hub_account", "hub_region", "rule_order"])


def downgrade() -> None:
    op.drop_index("ix_automation_rules_partition", table_name="automation_rules")
    op.drop_table("automation_rules")
