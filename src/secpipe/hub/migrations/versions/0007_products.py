"""Product subscriptions per account and region (EnableImportFindingsForProduct,
DisableImportFindingsForProduct, ListEnabledProductsForImport; see `secpipe.hub.subscriptions`).

Revision ID: 0007_products
Revises: 0005
Create Date: 2026-12-06

A row records an account's explicit choice for one product (`company/product` of its ARN) in
one region: enabled for a product that is off by default (a partner's), or disabled for one
that is on by default (secpipe's own tools, AWS services). No row: the registry's default.
The revision id is the one the brief gives; the merge re-chains it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_products"
down_revision = "0005"
branch_labels = None
depends_on = None


def Str(length: int) -> sa.types.TypeEngine:
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "product_subscriptions",
        sa.Column("hub_account", Str(12), nullable=False),
        sa.Column("hub_region", Str(32), nullable=False),
        sa.Column("product", Str(256), nullable=False),
        sa.Column("product_arn", Str(256), nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("updated_at", Str(32), nullable=False),
        sa.PrimaryKeyConstraint("hub_account", "hub_region", "product",
                                name="pk_product_subscriptions"),
    )


def downgrade() -> None:
    op.drop_table("product_subscriptions")
