"""association actors' role and client

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

Who started and who ended an association was recorded only as a token subject, personal data where the identity
provider uses e-mail addresses. A caller outside the tenant (a partner) now gets the actor's role and OAuth client
instead (auth.policy.FIELDS), so both are recorded with each change. Rows written before this
revision keep them null: the audit events of those changes hold the same facts.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = (
    ("created_by_role", 32),
    ("created_by_client_id", 256),
    ("ended_by_role", 32),
    ("ended_by_client_id", 256),
)


def upgrade() -> None:
    with op.batch_alter_table("partner_associations") as batch:
        for name, length in _COLUMNS:
            batch.add_column(sa.Column(name, sa.String(length=length), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("partner_associations") as batch:
        for name, _ in reversed(_COLUMNS):
            batch.drop_column(name)
