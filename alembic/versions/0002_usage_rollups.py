"""usage rollups

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22

Daily and monthly usage rollups (db/rollup.py). Nothing wrote usage_records before this revision; a database
loaded in bulk since gets its rollups from resolvers.usage.rollups.rebuild_rollups.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "usage_daily_rollups",
        sa.Column("subscription_id", sa.Uuid(), nullable=False),
        sa.Column("usage_date", sa.Date(), nullable=False),
        sa.Column("service_name", sa.String(length=128), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("quantity", sa.Numeric(30, 6).with_variant(sa.BigInteger(), "sqlite"), nullable=False),
        sa.Column("amount", sa.Numeric(30, 6).with_variant(sa.BigInteger(), "sqlite"), nullable=False),
        sa.Column("record_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_usage_daily_rollups_subscription_id_subscriptions"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint(
            "subscription_id", "usage_date", "service_name", "currency", name=op.f("pk_usage_daily_rollups")
        ),
        postgresql_with={"fillfactor": 70},
    )
    with op.batch_alter_table("usage_daily_rollups", schema=None) as batch_op:
        batch_op.create_index("ix_usage_daily_rollups_usage_date", ["usage_date"], unique=False)

    op.create_table(
        "usage_monthly_rollups",
        sa.Column("subscription_id", sa.Uuid(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("service_name", sa.String(length=128), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("quantity", sa.Numeric(30, 6).with_variant(sa.BigInteger(), "sqlite"), nullable=False),
        sa.Column("amount", sa.Numeric(30, 6).with_variant(sa.BigInteger(), "sqlite"), nullable=False),
        sa.Column("record_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_usage_monthly_rollups_subscription_id_subscriptions"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint(
            "subscription_id", "month", "service_name", "currency", name=op.f("pk_usage_monthly_rollups")
        ),
        postgresql_with={"fillfactor": 70},
    )
    with op.batch_alter_table("usage_monthly_rollups", schema=None) as batch_op:
        batch_op.create_index("ix_usage_monthly_rollups_month", ["month"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("usage_monthly_rollups", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_monthly_rollups_month")

    op.drop_table("usage_monthly_rollups")
    with op.batch_alter_table("usage_daily_rollups", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_daily_rollups_usage_date")

    op.drop_table("usage_daily_rollups")
