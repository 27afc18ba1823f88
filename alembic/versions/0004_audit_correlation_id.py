"""audit events' correlation id

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03

A bulk association change (bulkSetDigitalPartnerOfRecord, bulkRemoveDigitalPartnerOfRecord) writes one audit event
per subscription; all of them carry the batch's correlation id, so the batch can be read back as one
(`auditEvents(filter: {correlationId})`). The request id cannot serve: a caller may send its own (x-request-id, for
tracing across services) and reuse it. Events of single changes, and those written before this revision, have none.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("correlation_id", sa.String(length=64), nullable=True))
        batch.create_index("ix_audit_events_correlation_id", ["correlation_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_index("ix_audit_events_correlation_id")
        batch.drop_column("correlation_id")
