"""Roles, scopes and the audit trail.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06

- access_keys: `role` and `scope` (JSON globs); keys that existed before become `admin`, which is
  what every key could do until now (the README's migration note says to re-issue narrower
  ones). `secret_enc` holds the AES-GCM-encrypted secret; `secret` keeps a pre-0003 clear secret
  only until the store, which knows the per-hub key file, re-encrypts it on open.
- users: `role` (existing users become `triage`: the dashboard let them read and triage) and
  `generation`, bumped on password change, role change and deletion so their sessions end.
- runs: the writing principal, its role and scope (runs written before are `legacy`: trusted).
- audit_log: append-only record of every state-changing call.

The revision ids here are the ones the brief gives ("0003" after "0002"); the merge re-chains
them onto the repository's existing ids.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002_run_images"
branch_labels = None
depends_on = None


def Str(length: int) -> sa.types.TypeEngine:
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("access_keys") as batch:
        batch.add_column(sa.Column("role", Str(16), nullable=False, server_default="admin"))
        batch.add_column(sa.Column("scope", sa.Text, nullable=False, server_default="{}"))
        batch.add_column(sa.Column("secret_enc", sa.Text))
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("role", Str(16), nullable=False, server_default="triage"))
        batch.add_column(sa.Column("generation", sa.Integer, nullable=False,
                                   server_default="0"))
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("principal", Str(160), nullable=False,
                                   server_default="legacy"))
        batch.add_column(sa.Column("writer_role", Str(16), nullable=False,
                                   server_default="legacy"))
        batch.add_column(sa.Column("writer_scope", sa.Text, nullable=False,
                                   server_default="{}"))
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", Str(32), nullable=False),
        sa.Column("principal", Str(160), nullable=False),
        sa.Column("role", Str(16), nullable=False),
        sa.Column("source", Str(64), nullable=False),
        sa.Column("action", Str(64), nullable=False),
        sa.Column("targets", sa.Text, nullable=False),
        sa.Column("before", Str(64), nullable=False),
        sa.Column("after", Str(64), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_principal", "audit_log", ["principal", "seq"])


def downgrade() -> None:
    op.drop_table("audit_log")
    with op.batch_alter_table("runs") as batch:
        for col in ("writer_scope", "writer_role", "principal"):
            batch.drop_column(col)
    with op.batch_alter_table("users") as batch:
        batch.drop_column("generation")
        batch.drop_column("role")
    with op.batch_alter_table("access_keys") as batch:
        for col in ("secret_enc", "scope", "role"):
            batch.drop_column(col)
