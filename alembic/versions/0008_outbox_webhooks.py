"""change events outbox, webhook endpoints and deliveries

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03

Issue 15. `change_events` is the transactional outbox (db/change_event.py): one row per change a partner or tenant
is told of, written in the change's own transaction; the sequencer gives committed rows their publication
`sequence` under the lock of the one `change_event_sequencer` row. `webhook_endpoints` are partners' and tenants'
receivers; `webhook_deliveries` is at once the delivery queue and its log (db/webhook.py). New tables only: a
downgrade drops them (and the undelivered events with them).

On PostgreSQL the gateway's role `dpor_app` (revision 0007) gets the DML it uses: events are append-only but for
the publication `sequence` the sequencer sets once; endpoints and their deliveries are their owners' to delete.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UNSEQUENCED = sa.text("sequence IS NULL")
_PENDING = sa.text("status = 'PENDING'")
_STATUSES = ("PENDING", "DELIVERED", "DEAD")


def upgrade() -> None:
    op.create_table(
        "change_events",
        sa.Column("position", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=True),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("audit_event_id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("subscription_id", sa.Uuid(), nullable=True),
        sa.Column("tenant_payload", sa.JSON(), nullable=True),
        sa.Column("partner_payloads", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("position", name=op.f("pk_change_events")),
        sa.UniqueConstraint("id", name=op.f("uq_change_events_id")),
        sa.UniqueConstraint("sequence", name=op.f("uq_change_events_sequence")),
    )
    with op.batch_alter_table("change_events") as batch:
        batch.create_index(
            "ix_change_events_unsequenced", ["position"], sqlite_where=_UNSEQUENCED, postgresql_where=_UNSEQUENCED
        )
        batch.create_index("ix_change_events_tenant_sequence", ["tenant_id", "sequence"])
    op.create_table(
        "change_event_sequencer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_sequence", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change_event_sequencer")),
    )
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("partner_id", sa.Uuid(), nullable=True),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("event_types", sa.JSON(), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("secret", sa.String(length=128), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("(tenant_id IS NULL) <> (partner_id IS NULL)", name=op.f("ck_webhook_endpoints_one_owner")),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_webhook_endpoints_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_webhook_endpoints_partner_id_partners"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_endpoints")),
    )
    with op.batch_alter_table("webhook_endpoints") as batch:
        batch.create_index("ix_webhook_endpoints_tenant", ["tenant_id"])
        batch.create_index("ix_webhook_endpoints_partner", ["partner_id"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("endpoint_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column(
            "status",
            sa.Enum(*_STATUSES, name="webhook_delivery_status", native_enum=False, create_constraint=True, length=40),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("leased_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_latency_ms", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["webhook_endpoints.id"],
            name=op.f("fk_webhook_deliveries_endpoint_id_webhook_endpoints"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["change_events.id"],
            name=op.f("fk_webhook_deliveries_event_id_change_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
    )
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.create_index("uq_webhook_deliveries_endpoint_event", ["endpoint_id", "event_id"], unique=True)
        batch.create_index("ix_webhook_deliveries_endpoint_sequence", ["endpoint_id", "sequence"])
        batch.create_index(
            "ix_webhook_deliveries_due", ["next_attempt_at"], sqlite_where=_PENDING, postgresql_where=_PENDING
        )
    _grant()


_APP_ROLE = "dpor_app"
_GRANTS = {
    "change_events": "SELECT, INSERT, UPDATE (sequence)",
    "change_event_sequencer": "SELECT, INSERT, UPDATE",
    "webhook_endpoints": "SELECT, INSERT, UPDATE, DELETE",
    "webhook_deliveries": "SELECT, INSERT, UPDATE, DELETE",
}


def _grant() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, privileges in _GRANTS.items():
        op.execute(f"GRANT {privileges} ON {table} TO {_APP_ROLE}")
    op.execute(f"GRANT USAGE ON SEQUENCE change_events_position_seq TO {_APP_ROLE}")


def downgrade() -> None:
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_endpoints")
    op.drop_table("change_event_sequencer")
    op.drop_table("change_events")
