"""Findings and insights per account and region (Security Hub's partition); hub settings.

Revision ID: 0008_partition
Revises: 0005
Create Date: 2026-12-06

Security Hub keeps findings and insights apart per account and region: the same
(ProductArn, Id) may exist in two regions. `findings` and `insights` get `hub_account` and
`hub_region`; the findings' unique key becomes (Id, ProductArn, account, region). Rows that
exist already go to the partition the store is opened with (`open_store` hands its account
and region in through `config.attributes["partition"]`), so a hub in use keeps showing its
findings where it always did. On PostgreSQL the narrow index also carries the two columns, so
a GetFindings page stays an index-only scan.

`hub_settings` holds what the hub must remember across restarts: its account id once given
(so a conflicting `--account-id` is refused) and which configured partitions were enabled on
first start (so a later DisableSecurityHub sticks).

SQLite cannot change a table's unique constraint in place: the findings table is rebuilt
(batch mode), once. There the two columns keep the migration's values as their DEFAULT (SQLite
cannot drop a default without another rebuild); the importer and insights always name both.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0008_partition"
down_revision = "0010_family"   # re-chained by the merge
branch_labels = None
depends_on = None

NARROW = ["severity_rank", "workflow_status", "record_state", "severity_normalized",
          "updated_at"]


def Str(length: int) -> sa.types.TypeEngine:
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def _partition() -> tuple[str, str]:
    given = context.config.attributes.get("partition") if context.config else None
    return tuple(given) if given else ("000000000000", "us-east-1")    # type: ignore[return-value]


def upgrade() -> None:
    account, region = _partition()
    cols = lambda: [sa.Column("hub_account", Str(16), nullable=False,   # noqa: E731
                              server_default=account),
                    sa.Column("hub_region", Str(32), nullable=False, server_default=region)]
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        for col in cols():                      # a constant default: no table rewrite
            op.add_column("findings", col)
            op.alter_column("findings", col.name, server_default=None)
        op.drop_constraint("uq_findings_key", "findings", type_="unique")
        op.create_unique_constraint("uq_findings_key", "findings",
                                    ["id", "product_arn", "hub_account", "hub_region"])
        op.drop_index("ix_findings_narrow", table_name="findings")
        op.create_index("ix_findings_narrow", "findings", ["pk"],
                        postgresql_include=[*NARROW, "hub_account", "hub_region"])
    else:
        with op.batch_alter_table("findings", recreate="always") as batch:
            for col in cols():
                batch.add_column(col)
            batch.drop_constraint("uq_findings_key", type_="unique")
            batch.create_unique_constraint(
                "uq_findings_key", ["id", "product_arn", "hub_account", "hub_region"])
    for col in cols():
        op.add_column("insights", col)
        if postgres:
            op.alter_column("insights", col.name, server_default=None)
    op.create_index("ix_insights_partition", "insights", ["hub_account", "hub_region", "seq"])
    op.create_table(
        "hub_settings",
        sa.Column("key", Str(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("hub_settings")
    op.drop_index("ix_insights_partition", table_name="insights")
    with op.batch_alter_table("insights") as batch:
        batch.drop_column("hub_region")
        batch.drop_column("hub_account")
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.drop_index("ix_findings_narrow", table_name="findings")
    with op.batch_alter_table("findings", recreate="auto") as batch:
        batch.drop_constraint("uq_findings_key", type_="unique")
        batch.create_unique_constraint("uq_findings_key", ["id", "product_arn"])
        batch.drop_column("hub_region")
        batch.drop_column("hub_account")
    if postgres:
        op.create_index("ix_findings_narrow", "findings", ["pk"], postgresql_include=NARROW)
