"""the gateway's least-privilege role, and association history made immutable

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03

Issue 16. On PostgreSQL the gateway connects as a role of its own, not as the owner of the tables the migrations
create: this revision creates the group role `dpor_app` (NOLOGIN; an operator creates the login role IN ROLE
dpor_app, see the README) and grants it DML only, table by table. Append-only tables get no UPDATE or DELETE:
audit events only ever gain rows, and a partner association is ended in place (its closing columns) but never
rewritten or removed. A trigger holds the rest of that promise for every role, the owner's included: a row once
ended (valid_to set) never changes again.

The grants are this revision's own literal list, not read from the application: a later revision that adds a table
grants on it itself, and tests/service/test_app_role.py holds every table of the live database to the privileges
it expects (a table missing there fails it).

SQLite has no roles: nothing happens there.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLE = "dpor_app"
_READ_WRITE = "SELECT, INSERT, UPDATE"
_GRANTS = {
    "alembic_version": "SELECT",  # the readiness check reads the revision
    "tenants": _READ_WRITE,
    "tenant_contacts": _READ_WRITE,
    "partners": _READ_WRITE,
    "subscriptions": _READ_WRITE,
    "delegated_admin_relationships": _READ_WRITE,
    "dpor_invitations": _READ_WRITE,
    "idempotency_records": _READ_WRITE,
    "usage_records": _READ_WRITE,  # a re-sent record replaces its values (upsert); records are never deleted
    "usage_daily_rollups": "SELECT, INSERT, UPDATE, DELETE",  # a rollup row that sums to nothing is removed
    "usage_monthly_rollups": "SELECT, INSERT, UPDATE, DELETE",
    "partner_associations": "SELECT, INSERT, UPDATE (valid_to, ended_by, ended_by_role, ended_by_client_id,"
    " end_reason, status)",
    "audit_events": "SELECT, INSERT",
}

# Role creation races when several databases of one cluster migrate at once (the tests do): either error means
# another session created it first.
_CREATE_ROLE = f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN
        CREATE ROLE {ROLE} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$"""

_IMMUTABLE_HISTORY = """
CREATE FUNCTION partner_associations_history_is_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.valid_to IS NOT NULL AND ROW(NEW.*) IS DISTINCT FROM ROW(OLD.*) THEN
        RAISE EXCEPTION 'partner association % ended at %: its history is not rewritten', OLD.id, OLD.valid_to
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END
$$"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_CREATE_ROLE)
    op.execute(f'GRANT USAGE ON SCHEMA "{_schema()}" TO {ROLE}')
    for table, privileges in _GRANTS.items():
        op.execute(f"GRANT {privileges} ON {table} TO {ROLE}")
    op.execute(_IMMUTABLE_HISTORY)
    op.execute(
        "CREATE TRIGGER partner_associations_history_is_immutable BEFORE UPDATE ON partner_associations"
        " FOR EACH ROW EXECUTE FUNCTION partner_associations_history_is_immutable()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER partner_associations_history_is_immutable ON partner_associations")
    op.execute("DROP FUNCTION partner_associations_history_is_immutable()")
    # The role stays (other databases of the cluster may use it); its grants on these tables go.
    for table in _GRANTS:
        op.execute(f"REVOKE ALL ON {table} FROM {ROLE}")
    op.execute(f'REVOKE USAGE ON SCHEMA "{_schema()}" FROM {ROLE}')


def _schema() -> str:
    return str(op.get_bind().exec_driver_sql("SELECT current_schema()").scalar_one())
