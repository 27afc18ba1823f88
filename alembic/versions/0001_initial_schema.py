"""initial schema

An applied migration (393 lines): it stays one file as it was applied, since a migration's history is not rewritten.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("actor_subject", sa.String(length=256), nullable=False),
        sa.Column("actor_role", sa.String(length=40), nullable=False),
        sa.Column("actor_client_id", sa.String(length=256), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target_type", sa.String(length=64), nullable=False),
        sa.Column("target_id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("subscription_id", sa.Uuid(), nullable=True),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index("ix_audit_events_occurred", ["occurred_at"], unique=False)
        batch_op.create_index("ix_audit_events_subscription_occurred", ["subscription_id", "occurred_at"], unique=False)
        batch_op.create_index("ix_audit_events_tenant_occurred", ["tenant_id", "occurred_at"], unique=False)

    op.create_table(
        "idempotency_records",
        sa.Column("caller", sa.String(length=256), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("operation", sa.String(length=64), nullable=False),
        sa.Column("input_hash", sa.String(length=64), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("caller", "key", name=op.f("pk_idempotency_records")),
    )
    op.create_table(
        "partners",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("mpn_id", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("country_code", sa.String(length=2), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "length(mpn_id) > 0 AND trim(mpn_id, '0123456789') = ''", name=op.f("ck_partners_mpn_id_digits")
        ),
        sa.CheckConstraint(
            "length(country_code) = 2 AND upper(country_code) = country_code",
            name=op.f("ck_partners_country_code"),
        ),
        sa.CheckConstraint("length(name) > 0", name=op.f("ck_partners_name_not_empty")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partners")),
        sa.UniqueConstraint("mpn_id", name=op.f("uq_partners_mpn_id")),
    )
    with op.batch_alter_table("partners", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_partners_name"), ["name"], unique=False)

    op.create_table(
        "tenants",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("external_id", sa.Uuid(), nullable=False),
        sa.Column("display_name", sa.String(length=256), nullable=False),
        sa.Column("primary_domain", sa.String(length=253), nullable=False),
        sa.Column("country_code", sa.String(length=2), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "ACTIVE",
                "SUSPENDED",
                "DELETED",
                name="tenant_status",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "length(country_code) = 2 AND upper(country_code) = country_code",
            name=op.f("ck_tenants_country_code"),
        ),
        sa.CheckConstraint("length(display_name) > 0", name=op.f("ck_tenants_display_name_not_empty")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
        sa.UniqueConstraint("external_id", name=op.f("uq_tenants_external_id")),
    )
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.create_index("ix_tenants_country_status", ["country_code", "status"], unique=False)

    op.create_table(
        "delegated_admin_relationships",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "ACTIVE",
                "ENDED",
                name="delegation_status",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(status = 'ACTIVE' AND ended_at IS NULL) OR (status = 'ENDED' AND ended_at IS NOT NULL)",
            name=op.f("ck_delegated_admin_relationships_ended_consistently"),
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_delegated_admin_relationships_partner_id_partners"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_delegated_admin_relationships_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delegated_admin_relationships")),
    )
    with op.batch_alter_table("delegated_admin_relationships", schema=None) as batch_op:
        batch_op.create_index(
            "ix_delegated_admin_relationships_partner_tenant", ["partner_id", "tenant_id"], unique=False
        )
        batch_op.create_index(
            "uq_delegated_admin_relationships_active",
            ["tenant_id", "partner_id"],
            unique=True,
            sqlite_where=sa.text("status = 'ACTIVE'"),
            postgresql_where=sa.text("status = 'ACTIVE'"),
        )

    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column(
            "offer",
            sa.Enum(
                "AZURE",
                "MICROSOFT_365",
                "INTUNE",
                "ENTERPRISE_MOBILITY_SUITE",
                "DYNAMICS_365",
                name="offer",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("display_name", sa.String(length=256), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "ACTIVE",
                "SUSPENDED",
                "DELETED",
                name="subscription_status",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("usage_data_as_of", sa.Date(), nullable=True),
        sa.CheckConstraint("length(display_name) > 0", name=op.f("ck_subscriptions_display_name_not_empty")),
        sa.CheckConstraint("version >= 1", name=op.f("ck_subscriptions_version_positive")),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_subscriptions_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
        sa.UniqueConstraint("external_id", name=op.f("uq_subscriptions_external_id")),
    )
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.create_index("ix_subscriptions_tenant_id_id", ["tenant_id", "id"], unique=False)

    op.create_table(
        "tenant_contacts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("length(name) > 0", name=op.f("ck_tenant_contacts_name_not_empty")),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_tenant_contacts_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenant_contacts")),
    )
    with op.batch_alter_table("tenant_contacts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tenant_contacts_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "partner_associations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("subscription_id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column(
            "type",
            sa.Enum(
                "DIGITAL_PARTNER_OF_RECORD",
                "TRANSACTING_PARTNER",
                "PARTNER_ADMIN_LINK",
                "CLAIMING_PARTNER_OF_RECORD",
                name="association_type",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.Column("ended_by", sa.String(length=256), nullable=True),
        sa.Column(
            "end_reason",
            sa.Enum(
                "REPLACED",
                "REMOVED_BY_OWNER",
                "UNLINKED",
                "SUBSCRIPTION_DELETED",
                "DELEGATION_ENDED",
                name="association_end_reason",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=True,
        ),
        sa.CheckConstraint(
            "(valid_to IS NULL AND end_reason IS NULL AND ended_by IS NULL) OR (valid_to IS NOT NULL AND end_reason IS NOT NULL AND ended_by IS NOT NULL)",
            name=op.f("ck_partner_associations_ended_consistently"),
        ),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to >= valid_from", name=op.f("ck_partner_associations_valid_interval")
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_partner_associations_partner_id_partners"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_partner_associations_subscription_id_subscriptions"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_associations")),
    )
    with op.batch_alter_table("partner_associations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_partner_associations_partner_type_valid_from",
            ["partner_id", "type", "valid_from"],
            unique=False,
        )
        batch_op.create_index(
            "ix_partner_associations_subscription_valid_from", ["subscription_id", "valid_from"], unique=False
        )
        batch_op.create_index(
            "uq_partner_associations_active_dpor",
            ["subscription_id"],
            unique=True,
            sqlite_where=sa.text("valid_to IS NULL AND type = 'DIGITAL_PARTNER_OF_RECORD'"),
            postgresql_where=sa.text("valid_to IS NULL AND type = 'DIGITAL_PARTNER_OF_RECORD'"),
        )
        batch_op.create_index(
            "uq_partner_associations_active_partner_type",
            ["subscription_id", "partner_id", "type"],
            unique=True,
            sqlite_where=sa.text("valid_to IS NULL"),
            postgresql_where=sa.text("valid_to IS NULL"),
        )

    op.create_table(
        "usage_records",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("subscription_id", sa.Uuid(), nullable=False),
        sa.Column("usage_date", sa.Date(), nullable=False),
        sa.Column("service_name", sa.String(length=128), nullable=False),
        sa.Column("meter_id", sa.String(length=64), nullable=False),
        sa.Column("meter_name", sa.String(length=256), nullable=False),
        sa.Column("meter_category", sa.String(length=128), nullable=False),
        sa.Column("quantity", sa.Numeric(24, 6).with_variant(sa.BigInteger(), "sqlite"), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.Column("amount", sa.Numeric(24, 6).with_variant(sa.BigInteger(), "sqlite"), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("ingested_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "length(currency) = 3 AND upper(currency) = currency",
            name=op.f("ck_usage_records_currency_iso4217"),
        ),
        sa.CheckConstraint("quantity >= 0", name=op.f("ck_usage_records_quantity_non_negative")),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_usage_records_subscription_id_subscriptions"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_records")),
        sa.UniqueConstraint("subscription_id", "usage_date", "meter_id", name="uq_usage_records_natural_key"),
    )
    with op.batch_alter_table("usage_records", schema=None) as batch_op:
        batch_op.create_index("ix_usage_records_usage_date", ["usage_date"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("usage_records", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_records_usage_date")

    op.drop_table("usage_records")
    with op.batch_alter_table("partner_associations", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_partner_associations_active_partner_type",
            sqlite_where=sa.text("valid_to IS NULL"),
            postgresql_where=sa.text("valid_to IS NULL"),
        )
        batch_op.drop_index(
            "uq_partner_associations_active_dpor",
            sqlite_where=sa.text("valid_to IS NULL AND type = 'DIGITAL_PARTNER_OF_RECORD'"),
            postgresql_where=sa.text("valid_to IS NULL AND type = 'DIGITAL_PARTNER_OF_RECORD'"),
        )
        batch_op.drop_index("ix_partner_associations_subscription_valid_from")
        batch_op.drop_index("ix_partner_associations_partner_type_valid_from")

    op.drop_table("partner_associations")
    with op.batch_alter_table("tenant_contacts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tenant_contacts_tenant_id"))

    op.drop_table("tenant_contacts")
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_index("ix_subscriptions_tenant_id_id")

    op.drop_table("subscriptions")
    with op.batch_alter_table("delegated_admin_relationships", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_delegated_admin_relationships_active",
            sqlite_where=sa.text("status = 'ACTIVE'"),
            postgresql_where=sa.text("status = 'ACTIVE'"),
        )
        batch_op.drop_index("ix_delegated_admin_relationships_partner_tenant")

    op.drop_table("delegated_admin_relationships")
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.drop_index("ix_tenants_country_status")

    op.drop_table("tenants")
    with op.batch_alter_table("partners", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_partners_name"))

    op.drop_table("partners")
    op.drop_table("idempotency_records")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_events_tenant_occurred")
        batch_op.drop_index("ix_audit_events_subscription_occurred")
        batch_op.drop_index("ix_audit_events_occurred")

    op.drop_table("audit_events")
