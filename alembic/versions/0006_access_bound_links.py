"""access-bound admin links, recognition roles, claims

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

Issue 14. A delegated admin relationship may expire (`expires_at`); a partner admin link ends with the relationship
behind it, at the same instant, with the new end reason ROLE_REVOKED. Rows that ended with DELEGATION_ENDED keep
it: history is never rewritten, and their audit events say the same. Associations carry an optional recognition
role (SELL_AND_DEPLOY, MANAGE_AND_USE); rows before it have none. Claims (resolvers/claims.py) are associations with
a status (PENDING, ACTIVE, DECLINED; every existing row is ACTIVE, the server default), the instant their decline
window ends, their workload and evidence; a declined claim ends with the new end reason CUSTOMER_DECLINED.

Enums are checked strings (db.base.enum_column), so a new member means a new CHECK constraint: on SQLite the batch
recreates the table with it, on PostgreSQL the constraint is dropped and added.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_END_REASONS = ("REPLACED", "REMOVED_BY_OWNER", "UNLINKED", "SUBSCRIPTION_DELETED", "DELEGATION_ENDED")
_RECOGNITION_ROLES = ("SELL_AND_DEPLOY", "MANAGE_AND_USE")
_STATUSES = ("PENDING", "ACTIVE", "DECLINED")
_ACTIVE = sa.text("status = 'ACTIVE'")
_PENDING = sa.text("status = 'PENDING'")
_NEW_END_REASONS = ("ROLE_REVOKED", "CUSTOMER_DECLINED")


def _enum(name: str, members: Sequence[str]) -> sa.Enum:
    return sa.Enum(*members, name=name, native_enum=False, create_constraint=True, length=40)


def _check(column: str, members: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(member) for member in members)})"


def _members(table: str, column: str, name: str, before: Sequence[str], after: Sequence[str]) -> None:
    """An enum column's CHECK from the members `before` to those `after`."""
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table(table, recreate="always") as batch:
            batch.alter_column(column, type_=_enum(name, after), existing_type=_enum(name, before))
        return
    op.drop_constraint(op.f(f"ck_{table}_{name}"), table, type_="check")
    op.create_check_constraint(op.f(f"ck_{table}_{name}"), table, _check(column, after))


def upgrade() -> None:
    with op.batch_alter_table("delegated_admin_relationships") as batch:
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index(
            "ix_delegated_admin_relationships_active_expiry",
            ["expires_at"],
            unique=False,
            sqlite_where=_ACTIVE,
            postgresql_where=_ACTIVE,
        )
    _members(
        "partner_associations", "end_reason", "association_end_reason", _END_REASONS, (*_END_REASONS, *_NEW_END_REASONS)
    )
    with op.batch_alter_table("partner_associations") as batch:
        batch.add_column(sa.Column("recognition_role", _enum("recognition_role", _RECOGNITION_ROLES), nullable=True))
        batch.add_column(
            sa.Column("status", _enum("association_status", _STATUSES), server_default="ACTIVE", nullable=False)
        )
        batch.add_column(sa.Column("decline_by", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("claim_workload", sa.String(length=256), nullable=True))
        batch.add_column(sa.Column("claim_evidence", sa.Text(), nullable=True))
        batch.create_check_constraint(
            "status_consistently",
            "(status = 'PENDING' AND decline_by IS NOT NULL) OR status = 'ACTIVE'"
            " OR (status = 'DECLINED' AND end_reason = 'CUSTOMER_DECLINED')",
        )
        batch.create_index(
            "ix_partner_associations_pending_decline_by",
            ["decline_by"],
            unique=False,
            sqlite_where=_PENDING,
            postgresql_where=_PENDING,
        )


def downgrade() -> None:
    # Before 0004 nothing told a claim from an association in effect: claims that were not (or not yet) go.
    op.execute("DELETE FROM partner_associations WHERE status <> 'ACTIVE'")
    with op.batch_alter_table("partner_associations") as batch:
        batch.drop_index("ix_partner_associations_pending_decline_by")
        batch.drop_constraint(op.f("ck_partner_associations_status_consistently"), type_="check")
        batch.drop_constraint(op.f("ck_partner_associations_association_status"), type_="check")
        batch.drop_constraint(op.f("ck_partner_associations_recognition_role"), type_="check")
        for column in ("claim_evidence", "claim_workload", "decline_by", "status", "recognition_role"):
            batch.drop_column(column)
    op.execute("UPDATE partner_associations SET end_reason = 'DELEGATION_ENDED' WHERE end_reason = 'ROLE_REVOKED'")
    _members(
        "partner_associations", "end_reason", "association_end_reason", (*_END_REASONS, *_NEW_END_REASONS), _END_REASONS
    )
    with op.batch_alter_table("delegated_admin_relationships") as batch:
        batch.drop_index("ix_delegated_admin_relationships_active_expiry")
        batch.drop_column("expires_at")
