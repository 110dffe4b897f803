"""Falco alerts the intake refused or could not store, with the reason (`secpipe falco
dead-letters`): one bad alert is set aside instead of blocking every later flush.

Revision ID: 0004_falco_dead_letters
Revises: 0002_run_images
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_falco_dead_letters"
down_revision = "0003"   # after roles and the audit trail
branch_labels = None
depends_on = None


def Str(length: int) -> sa.types.TypeEngine:
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "falco_dead_letters",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("received_at", Str(32), nullable=False),
        sa.Column("stage", Str(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("rule", Str(256), nullable=False),
        sa.Column("alert_time", Str(64), nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("alert", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("falco_dead_letters")
