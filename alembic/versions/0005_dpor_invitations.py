"""DPOR invitations

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03

A partner invites a tenant's owner, by an opaque code, to make it the Digital Partner of Record of chosen
subscriptions (issue 14, db/dpor_invitation.py). Only the code's SHA-256 is stored. A new table: nothing existing
changes, so a downgrade only drops it (and the invitations with it; the associations their acceptances set stay).
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dpor_invitations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("message", sa.String(length=1000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("max_redemptions", sa.Integer(), nullable=True),
        sa.Column("redemptions", sa.Integer(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("length(code_hash) = 64", name=op.f("ck_dpor_invitations_code_hash_sha256")),
        sa.CheckConstraint(
            "max_redemptions IS NULL OR max_redemptions >= 1", name=op.f("ck_dpor_invitations_max_redemptions_positive")
        ),
        sa.CheckConstraint(
            "redemptions >= 0 AND (max_redemptions IS NULL OR redemptions <= max_redemptions)",
            name=op.f("ck_dpor_invitations_redemptions_within_max"),
        ),
        sa.CheckConstraint("expires_at > created_at", name=op.f("ck_dpor_invitations_expires_after_creation")),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_dpor_invitations_partner_id_partners"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dpor_invitations")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_dpor_invitations_code_hash")),
    )
    with op.batch_alter_table("dpor_invitations", schema=None) as batch_op:
        batch_op.create_index("ix_dpor_invitations_partner_created", ["partner_id", "created_at", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("dpor_invitations", schema=None) as batch_op:
        batch_op.drop_index("ix_dpor_invitations_partner_created")
    op.drop_table("dpor_invitations")
