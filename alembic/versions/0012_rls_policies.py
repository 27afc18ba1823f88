"""row-level security on every table holding tenant data, keyed on the caller each transaction names

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03

Issue 16. The application's row filters (auth/row_filters.py) stay the primary guard; these policies are the
second one: a query that forgot its filter still sees only the caller's rows. ENABLE and FORCE, so the tables'
owner is held too (superusers and BYPASSRLS roles are not: PostgreSQL exempts them, which is why the gateway's role
may be neither).

Who the caller is comes from transaction-local settings the gateway sets at each transaction's start
(db/row_security.py says how): `dpor.caller` ('request' or 'system'), `dpor.tenant_id`, `dpor.partner_id`,
`dpor.reach` (tokens `ENTITY.code`, derived by auth/row_security.py from auth/policy.py's READ table) and
`dpor.invitation_code`. Nothing set: no policy holds, no rows. 'system' is set by the code paths that work for no
caller (sweep, sequencer, delivery, change feed, seeding, migrations, resolving a token's ids), each naming itself
in `dpor.task`.

Per table, one expression says which rows the caller reaches (`_REACH`), for reading and writing alike, except
the append-only event tables, whose tenantless rows (a partner's invitation events) a request may insert. Helpers:
`dpor_rls_reaches(token)`, `dpor_rls_tenant()`, `dpor_rls_partner()` are plain SQL functions PostgreSQL inlines;
`dpor_rls_delegation_active`, `dpor_rls_tenant_subscriptions`, `dpor_rls_attributed_subscriptions` and
`dpor_rls_attributed_tenants` read other policed tables and run with `SET dpor.caller = 'system'` (so a policy
never recurses into another: subscriptions and partner associations refer to each other) and return only what
their arguments, the caller's own ids, reach. They are PL/pgSQL, not SQL: PostgreSQL plans a SQL function's body
(its tables' policies included) at every call, 1 to 2 ms each, where PL/pgSQL keeps its plans for the session
(measured on the benchmark's read (1): 20 ms of a 26 ms statement went to six such calls).
Every helper is called in a scalar sub-select, an InitPlan PostgreSQL evaluates once per statement (not once per
row), and whose value an index condition can use.

Usage partitions: queries through a parent are checked against the parent's policies. A partition is also ENABLEd
(no FORCE, no policy), so anyone but its owner who names one directly sees nothing; the app role has no grant on
partitions anyway (revision 0009), and the owner, who archives them, keeps dumping a detached month.
`usage_partitions_ensure` is redefined to enable it on every partition it makes.

Not tenant data, no RLS: `alembic_version` (the schema's revision) and `change_event_sequencer` (one counter row).

SQLite has no row-level security: nothing happens there.
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POLICY = "dpor_caller"
# The gateway's role and the owner running this migration (FORCE holds it too). Any other role has no policy here,
# so it sees none of these rows whatever it was granted (the PostGraphile benchmark's role brings its own).
ROLES = "dpor_app, CURRENT_USER"
ENSURE = "usage_partitions_ensure"
USAGE_TABLES = ("usage_records", "usage_daily_rollups", "usage_monthly_rollups")

_HELPERS = """
CREATE FUNCTION dpor_rls_reaches(token text) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT coalesce(current_setting('dpor.caller', true), '') = 'request'
       AND strpos(coalesce(current_setting('dpor.reach', true), ''), ' ' || token || ' ') > 0
$$;
CREATE FUNCTION dpor_rls_system() RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT coalesce(current_setting('dpor.caller', true), '') = 'system'
$$;
CREATE FUNCTION dpor_rls_tenant() RETURNS uuid LANGUAGE sql STABLE AS $$
    SELECT nullif(current_setting('dpor.tenant_id', true), '')::uuid
$$;
CREATE FUNCTION dpor_rls_partner() RETURNS uuid LANGUAGE sql STABLE AS $$
    SELECT nullif(current_setting('dpor.partner_id', true), '')::uuid
$$;
CREATE FUNCTION dpor_rls_delegation_active(tenant uuid, partner uuid) RETURNS boolean
LANGUAGE plpgsql STABLE SET dpor.caller = 'system' AS $$
BEGIN
    RETURN EXISTS (
        SELECT FROM delegated_admin_relationships d
        WHERE d.tenant_id = tenant AND d.partner_id = partner AND d.status = 'ACTIVE'
          AND (d.expires_at IS NULL OR d.expires_at > statement_timestamp())
    );
END
$$;
CREATE FUNCTION dpor_rls_tenant_subscriptions(tenant uuid) RETURNS SETOF uuid
LANGUAGE plpgsql STABLE SET dpor.caller = 'system' AS $$
BEGIN
    RETURN QUERY SELECT s.id FROM subscriptions s WHERE s.tenant_id = tenant;
END
$$;
CREATE FUNCTION dpor_rls_attributed_subscriptions(partner uuid) RETURNS SETOF uuid
LANGUAGE plpgsql STABLE SET dpor.caller = 'system' AS $$
BEGIN
    RETURN QUERY SELECT DISTINCT a.subscription_id FROM partner_associations a WHERE a.partner_id = partner;
END
$$;
CREATE FUNCTION dpor_rls_attributed_tenants(partner uuid) RETURNS SETOF uuid
LANGUAGE plpgsql STABLE SET dpor.caller = 'system' AS $$
BEGIN
    RETURN QUERY SELECT DISTINCT s.tenant_id FROM subscriptions s
    WHERE s.id IN (SELECT a.subscription_id FROM partner_associations a WHERE a.partner_id = partner);
END
$$;
"""
_HELPER_NAMES = (
    "dpor_rls_reaches(text)",
    "dpor_rls_system()",
    "dpor_rls_tenant()",
    "dpor_rls_partner()",
    "dpor_rls_delegation_active(uuid, uuid)",
    "dpor_rls_tenant_subscriptions(uuid)",
    "dpor_rls_attributed_subscriptions(uuid)",
    "dpor_rls_attributed_tenants(uuid)",
)


def _tenant_reach(entity: str, tenant: str) -> str:
    """OWN_TENANT ('t') and DELEGATED_TENANT ('d': while the relationship is active, checked here again)."""
    return (
        f"((SELECT dpor_rls_reaches('{entity}.t')) AND {tenant})"
        f" OR ((SELECT dpor_rls_reaches('{entity}.d')) AND {tenant}"
        " AND (SELECT dpor_rls_delegation_active(dpor_rls_tenant(), dpor_rls_partner())))"
    )


def _reach(entity: str, *branches: str) -> str:
    return " OR ".join(("(SELECT dpor_rls_system())", f"(SELECT dpor_rls_reaches('{entity}.*'))", *branches))


_OF_TENANT = "subscription_id IN (SELECT dpor_rls_tenant_subscriptions(dpor_rls_tenant()))"
_ATTRIBUTED = "IN (SELECT dpor_rls_attributed_subscriptions(dpor_rls_partner()))"
_USAGE = _reach(
    "USAGE",
    _tenant_reach("USAGE", _OF_TENANT),
    # ATTRIBUTED_WINDOWS, to the subscription: the windows themselves are the application's join.
    f"((SELECT dpor_rls_reaches('USAGE.w')) AND subscription_id {_ATTRIBUTED})",
)
_EVENT_TENANT = _tenant_reach("AUDIT_EVENT", "tenant_id = (SELECT dpor_rls_tenant())")

# table -> which rows the caller reaches (USING and WITH CHECK of one policy FOR ALL).
_REACH = {
    "tenants": _reach(
        "TENANT",
        _tenant_reach("TENANT", "id = (SELECT dpor_rls_tenant())"),
        "((SELECT dpor_rls_reaches('TENANT.a')) AND id IN (SELECT dpor_rls_attributed_tenants(dpor_rls_partner())))",
    ),
    "tenant_contacts": _reach("CONTACT", _tenant_reach("CONTACT", "tenant_id = (SELECT dpor_rls_tenant())")),
    "subscriptions": _reach(
        "SUBSCRIPTION",
        _tenant_reach("SUBSCRIPTION", "tenant_id = (SELECT dpor_rls_tenant())"),
        f"((SELECT dpor_rls_reaches('SUBSCRIPTION.a')) AND id {_ATTRIBUTED})",
    ),
    "partners": _reach("PARTNER", "((SELECT dpor_rls_reaches('PARTNER.p')) AND id = (SELECT dpor_rls_partner()))"),
    "partner_associations": _reach(
        "PARTNER_ASSOCIATION",
        _tenant_reach("PARTNER_ASSOCIATION", _OF_TENANT),
        "((SELECT dpor_rls_reaches('PARTNER_ASSOCIATION.p')) AND partner_id = (SELECT dpor_rls_partner()))",
    ),
    "delegated_admin_relationships": _reach(
        "DELEGATED_ADMIN_RELATIONSHIP",
        _tenant_reach("DELEGATED_ADMIN_RELATIONSHIP", "tenant_id = (SELECT dpor_rls_tenant())"),
    ),
    "dpor_invitations": _reach(
        "DPOR_INVITATION",
        "((SELECT dpor_rls_reaches('DPOR_INVITATION.p')) AND partner_id = (SELECT dpor_rls_partner()))",
        # A tenant's owner reaches the one invitation whose code it presents (by its hash).
        "((SELECT dpor_rls_reaches('DPOR_INVITATION.c'))"
        " AND code_hash = nullif(current_setting('dpor.invitation_code', true), ''))",
    ),
    "usage_records": _USAGE,
    "usage_daily_rollups": _USAGE,
    "usage_monthly_rollups": _USAGE,
    "audit_events": _reach("AUDIT_EVENT", _EVENT_TENANT),
    # The outbox has no READ row of its own: its tenant's copy is the audit event, read as audit events are; a
    # partner's tenantless events (its invitations') are its own. Requests only insert (RETURNING reads it back);
    # the sequencer, feed and delivery are system work.
    "change_events": _reach(
        "AUDIT_EVENT",
        _EVENT_TENANT,
        "(tenant_id IS NULL AND (SELECT dpor_rls_reaches('DPOR_INVITATION.p'))"
        " AND (partner_payloads::jsonb) ? (SELECT replace(dpor_rls_partner()::text, '-', '')))",
    ),
    "webhook_endpoints": _reach(
        "WEBHOOK_ENDPOINT",
        "((SELECT dpor_rls_reaches('WEBHOOK_ENDPOINT.t')) AND tenant_id = (SELECT dpor_rls_tenant()))",
        "((SELECT dpor_rls_reaches('WEBHOOK_ENDPOINT.p')) AND partner_id = (SELECT dpor_rls_partner()))",
    ),
    # A delivery is its endpoint's: whoever reaches the endpoint (through its policy) reaches its deliveries.
    "webhook_deliveries": "(SELECT dpor_rls_system()) OR endpoint_id IN (SELECT e.id FROM webhook_endpoints e)",
    # Keyed by the token subject, which the application alone matches (resolvers/idempotency.py): any request,
    # never a transaction that named no caller.
    "idempotency_records": "(SELECT coalesce(current_setting('dpor.caller', true), '') IN ('system', 'request'))",
}
# Append-only tables a request inserts into beyond what it reads: an audit event with no tenant (a partner's
# invitation) is written by a caller that does not read it.
_INSERT_ALSO = {"audit_events": "tenant_id IS NULL AND coalesce(current_setting('dpor.caller', true), '') = 'request'"}


def _ensure_with_rls(function: str) -> str:
    """0009's function, enabling row-level security on each partition it creates (before attaching it)."""
    create = "EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part, parent)"
    start = function.index(create)
    end = function.index(";", function.index("CASE parent", start)) + 1
    enable = "\n            EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', part);"
    return function[:end] + enable + function[end:]


_WORKING_AS_SYSTEM = ("usage_subscriptions_exist()", "usage_subscription_restrict()")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for helper in _HELPERS.split("\n$$;\n"):
        if helper.strip():
            op.execute(helper + "\n$$")
    for table, reach in _REACH.items():
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY {POLICY} ON {table} TO {ROLES} USING ({reach}) WITH CHECK ({reach})")
    for table, extra in _INSERT_ALSO.items():
        op.execute(f"CREATE POLICY {POLICY}_insert ON {table} FOR INSERT TO {ROLES} WITH CHECK ({extra})")
    parents = ", ".join(f"'{table}'::regclass" for table in USAGE_TABLES)
    op.execute(
        "DO $$ DECLARE part regclass; BEGIN"
        " FOR part IN SELECT inhrelid::regclass FROM pg_inherits"
        f" WHERE inhparent IN ({parents})"
        " LOOP EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', part); END LOOP; END $$"
    )
    _redefine_ensure(with_rls=True)
    # Revision 0011's checks in place of foreign keys must see every row, as a foreign key's own checks do: under
    # FORCE they would otherwise see only the caller's (an owner deleting a subscription with no caller set would
    # see no usage and be let through).
    for function in _WORKING_AS_SYSTEM:
        op.execute(f"ALTER FUNCTION {function} SET dpor.caller = 'system'")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for function in _WORKING_AS_SYSTEM:
        op.execute(f"ALTER FUNCTION {function} RESET dpor.caller")
    _redefine_ensure(with_rls=False)
    for table in _INSERT_ALSO:
        op.execute(f"DROP POLICY {POLICY}_insert ON {table}")
    for table in _REACH:
        op.execute(f"DROP POLICY {POLICY} ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    # Partitions, attached or archived (detached ones keep the usage_*_pYYYY_MM name).
    op.execute(
        "DO $$ DECLARE part regclass; BEGIN FOR part IN SELECT c.oid::regclass FROM pg_class c"
        " WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r' AND c.relrowsecurity"
        " AND c.relname ~ '^usage_(records|daily_rollups|monthly_rollups)_p[0-9]{4}_[0-9]{2}$'"
        " LOOP EXECUTE format('ALTER TABLE %s DISABLE ROW LEVEL SECURITY', part); END LOOP; END $$"
    )
    for helper in _HELPER_NAMES:
        op.execute(f"DROP FUNCTION {helper}")


def _redefine_ensure(*, with_rls: bool) -> None:
    """CREATE OR REPLACE keeps the function's owner, grants and revokes (0009's: the app role's EXECUTE only)."""
    spec = importlib.util.spec_from_file_location(
        "_revision_0009", Path(__file__).with_name("0009_partitioned_usage.py")
    )
    assert spec is not None and spec.loader is not None
    revision_0009: Any = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(revision_0009)
    schema = op.get_bind().exec_driver_sql("SELECT current_schema()").scalar_one()
    function = revision_0009._ensure_function(schema).replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
    op.execute(_ensure_with_rls(function) if with_rls else function)
