"""row-level security: the caller's reach worked out once per read transaction, and one check for "everything"

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04

Issue 16 asks row-level security to cost at most 15% per request. Under 0012's policies the benchmark's read (1),
one compiled statement touching subscriptions, partner associations, tenants and usage a dozen times, cost the
database 10.7 ms as the app role against 3.5 ms as the superuser (bench/results/2026-12-04-rls.md), because:

- every policed reference called a PL/pgSQL helper (`dpor_rls_attributed_subscriptions`, ...) that ran a query of
  its own with `SET dpor.caller` around it: 50 to 250 us each, a dozen times a statement, for the same answer;
- every reference carried seven InitPlans, two of them "a system task" and "reach ALL", which are one question.

Now:

- `dpor_rls_tell(caller, task, tenant, partner, reach, invitation_code, work_out)` sets 0012's settings and works
  out, once, the sets named in `work_out` (db/row_security.py names them from the caller's reach tokens): a
  partner's attributed subscriptions and tenants, a tenant role's subscriptions, whether a delegated admin's
  relationship is active. A read
  transaction begins with `BEGIN; SELECT dpor_rls_tell(...)` in one message; a compiled read is one statement,
  `SELECT CASE WHEN dpor_rls_tell($n+1, ...) THEN (<the statement>) END`, its own transaction, with no BEGIN or
  COMMIT round trip. A SQL function, not PL/pgSQL: 30 us less per call.
- The sets are kept in transaction-local settings (`dpor.attributed_subscriptions`, `dpor.attributed_tenants`,
  `dpor.tenant_subscriptions`, `dpor.delegation_active`: uuid arrays and a boolean as text) and read through `dpor_rls_*_set()` and
  `dpor_rls_delegated()`, SQL functions PostgreSQL inlines, each in a scalar sub-select (one InitPlan per
  reference, evaluated only if its branch's reach token holds). An empty setting means "not worked out": write
  transactions (whose own statements may add an association the set must see) and system work leave them empty,
  and the functions work the set out then, as 0012's helpers did. Membership is `IN (SELECT unnest(...))`, a
  hashed sub-plan: one probe per row, where `= ANY(array)` would compare each row with every element.
  A tenant's subscriptions (the tenant branch of usage and partner associations) are such a set too: a plain
  sub-select of the subscriptions table there cost more than working the set out (it puts the subscriptions
  policy's plan inside every usage and association reference, built at each execution: read (1) +96% wall
  against +56%).
- Fewer InitPlans and sub-plans per reference, each built at every execution: system work and reach ALL are one,
  `dpor_rls_unbounded(entity)`; the own and delegated tenant branches are one, `dpor_rls_reaches_tenant(entity)`,
  naming the tenant's rows once.

What each caller reaches is unchanged: the same tokens, tables and rows (tests/service/test_row_security.py).
SQLite has no row-level security: nothing happens there.
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POLICY = "dpor_caller"

# Each `*_now` works a set out as a system task (it reads policed tables, and a policy must not recurse into
# another); each `*_set` is the transaction's set if its start worked it out, else the `*_now` of this moment.
_HELPERS = """
CREATE FUNCTION dpor_rls_unbounded(entity text) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT CASE coalesce(current_setting('dpor.caller', true), '')
        WHEN 'system' THEN true
        WHEN 'request' THEN strpos(coalesce(current_setting('dpor.reach', true), ''), ' ' || entity || '.* ') > 0
        ELSE false
    END
$$;
CREATE FUNCTION dpor_rls_attributed_subscriptions_now(partner uuid) RETURNS uuid[]
LANGUAGE plpgsql STABLE SET dpor.caller = 'system' AS $$
BEGIN
    RETURN ARRAY(SELECT DISTINCT a.subscription_id FROM partner_associations a WHERE a.partner_id = partner);
END
$$;
CREATE FUNCTION dpor_rls_attributed_tenants_now(partner uuid) RETURNS uuid[]
LANGUAGE plpgsql STABLE SET dpor.caller = 'system' AS $$
BEGIN
    RETURN ARRAY(SELECT DISTINCT s.tenant_id FROM subscriptions s
        WHERE s.id IN (SELECT a.subscription_id FROM partner_associations a WHERE a.partner_id = partner));
END
$$;
CREATE FUNCTION dpor_rls_tenant_subscriptions_now(tenant uuid) RETURNS uuid[]
LANGUAGE plpgsql STABLE SET dpor.caller = 'system' AS $$
BEGIN
    RETURN ARRAY(SELECT s.id FROM subscriptions s WHERE s.tenant_id = tenant);
END
$$;
CREATE FUNCTION dpor_rls_attributed_subscription_set() RETURNS uuid[] LANGUAGE sql STABLE AS $$
    SELECT coalesce(nullif(current_setting('dpor.attributed_subscriptions', true), '')::uuid[],
                    dpor_rls_attributed_subscriptions_now(dpor_rls_partner()))
$$;
CREATE FUNCTION dpor_rls_attributed_tenant_set() RETURNS uuid[] LANGUAGE sql STABLE AS $$
    SELECT coalesce(nullif(current_setting('dpor.attributed_tenants', true), '')::uuid[],
                    dpor_rls_attributed_tenants_now(dpor_rls_partner()))
$$;
CREATE FUNCTION dpor_rls_tenant_subscription_set() RETURNS uuid[] LANGUAGE sql STABLE AS $$
    SELECT coalesce(nullif(current_setting('dpor.tenant_subscriptions', true), '')::uuid[],
                    dpor_rls_tenant_subscriptions_now(dpor_rls_tenant()))
$$;
CREATE FUNCTION dpor_rls_tell(
    caller text, task text, tenant text, partner text, reach text, invitation_code text, work_out text[]
) RETURNS boolean LANGUAGE sql VOLATILE AS $$
    SELECT set_config('dpor.caller', caller, true) IS NOT NULL
       AND set_config('dpor.task', task, true) IS NOT NULL
       AND set_config('dpor.tenant_id', tenant, true) IS NOT NULL
       AND set_config('dpor.partner_id', partner, true) IS NOT NULL
       AND set_config('dpor.reach', reach, true) IS NOT NULL
       AND set_config('dpor.invitation_code', invitation_code, true) IS NOT NULL
       AND set_config('dpor.attributed_subscriptions', CASE WHEN 'attributed_subscriptions' = ANY (work_out)
           THEN dpor_rls_attributed_subscriptions_now(nullif(partner, '')::uuid)::text ELSE '' END, true) IS NOT NULL
       AND set_config('dpor.attributed_tenants', CASE WHEN 'attributed_tenants' = ANY (work_out)
           THEN dpor_rls_attributed_tenants_now(nullif(partner, '')::uuid)::text ELSE '' END, true) IS NOT NULL
       AND set_config('dpor.tenant_subscriptions', CASE WHEN 'tenant_subscriptions' = ANY (work_out)
           THEN dpor_rls_tenant_subscriptions_now(nullif(tenant, '')::uuid)::text ELSE '' END, true) IS NOT NULL
       AND set_config('dpor.delegation_active', CASE WHEN 'delegation_active' = ANY (work_out)
           THEN dpor_rls_delegation_active(nullif(tenant, '')::uuid, nullif(partner, '')::uuid)::text
           ELSE '' END, true) IS NOT NULL
$$;
CREATE FUNCTION dpor_rls_delegated() RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT coalesce(nullif(current_setting('dpor.delegation_active', true), '')::boolean,
                    dpor_rls_delegation_active(dpor_rls_tenant(), dpor_rls_partner()))
$$;
CREATE FUNCTION dpor_rls_reaches_tenant(entity text) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT dpor_rls_reaches(entity || '.t') OR (dpor_rls_reaches(entity || '.d') AND dpor_rls_delegated())
$$;
"""
_HELPER_NAMES = (
    "dpor_rls_unbounded(text)",
    "dpor_rls_attributed_subscriptions_now(uuid)",
    "dpor_rls_attributed_tenants_now(uuid)",
    "dpor_rls_tenant_subscriptions_now(uuid)",
    "dpor_rls_attributed_subscription_set()",
    "dpor_rls_attributed_tenant_set()",
    "dpor_rls_tenant_subscription_set()",
    "dpor_rls_delegated()",
    "dpor_rls_reaches_tenant(text)",
    "dpor_rls_tell(text, text, text, text, text, text, text[])",
)


def _tenant_reach(entity: str, tenant: str) -> str:
    """OWN_TENANT ('t') and DELEGATED_TENANT ('d': while the relationship is active): one InitPlan for both, and
    the tenant's rows named once (0012 named them in each branch, two sub-plans per reference)."""
    return f"((SELECT dpor_rls_reaches_tenant('{entity}')) AND {tenant})"


def _reach(entity: str, *branches: str) -> str:
    return " OR ".join((f"(SELECT dpor_rls_unbounded('{entity}'))", *branches))


def _member(column: str, set_function: str) -> str:
    return f"{column} IN (SELECT unnest((SELECT {set_function}())))"


_OF_TENANT = _member("subscription_id", "dpor_rls_tenant_subscription_set")
_USAGE = _reach(
    "USAGE",
    _tenant_reach("USAGE", _OF_TENANT),
    # ATTRIBUTED_WINDOWS, to the subscription: the windows themselves are the application's join.
    f"((SELECT dpor_rls_reaches('USAGE.w')) AND {_member('subscription_id', 'dpor_rls_attributed_subscription_set')})",
)
_EVENT_TENANT = _tenant_reach("AUDIT_EVENT", "tenant_id = (SELECT dpor_rls_tenant())")
_OWN_PARTNER = "partner_id = (SELECT dpor_rls_partner())"

# table -> which rows the caller reaches (USING and WITH CHECK of 0012's one policy FOR ALL). 0012's
# webhook_deliveries (through its endpoint) and idempotency_records (any request) policies stay as they are.
_REACH = {
    "tenants": _reach(
        "TENANT",
        _tenant_reach("TENANT", "id = (SELECT dpor_rls_tenant())"),
        f"((SELECT dpor_rls_reaches('TENANT.a')) AND {_member('id', 'dpor_rls_attributed_tenant_set')})",
    ),
    "tenant_contacts": _reach("CONTACT", _tenant_reach("CONTACT", "tenant_id = (SELECT dpor_rls_tenant())")),
    "subscriptions": _reach(
        "SUBSCRIPTION",
        _tenant_reach("SUBSCRIPTION", "tenant_id = (SELECT dpor_rls_tenant())"),
        f"((SELECT dpor_rls_reaches('SUBSCRIPTION.a')) AND {_member('id', 'dpor_rls_attributed_subscription_set')})",
    ),
    "partners": _reach("PARTNER", "((SELECT dpor_rls_reaches('PARTNER.p')) AND id = (SELECT dpor_rls_partner()))"),
    "partner_associations": _reach(
        "PARTNER_ASSOCIATION",
        _tenant_reach("PARTNER_ASSOCIATION", _OF_TENANT),
        f"((SELECT dpor_rls_reaches('PARTNER_ASSOCIATION.p')) AND {_OWN_PARTNER})",
    ),
    "delegated_admin_relationships": _reach(
        "DELEGATED_ADMIN_RELATIONSHIP",
        _tenant_reach("DELEGATED_ADMIN_RELATIONSHIP", "tenant_id = (SELECT dpor_rls_tenant())"),
    ),
    "dpor_invitations": _reach(
        "DPOR_INVITATION",
        f"((SELECT dpor_rls_reaches('DPOR_INVITATION.p')) AND {_OWN_PARTNER})",
        "((SELECT dpor_rls_reaches('DPOR_INVITATION.c'))"
        " AND code_hash = nullif(current_setting('dpor.invitation_code', true), ''))",
    ),
    "usage_records": _USAGE,
    "usage_daily_rollups": _USAGE,
    "usage_monthly_rollups": _USAGE,
    "audit_events": _reach("AUDIT_EVENT", _EVENT_TENANT),
    "change_events": _reach(
        "AUDIT_EVENT",
        _EVENT_TENANT,
        "(tenant_id IS NULL AND (SELECT dpor_rls_reaches('DPOR_INVITATION.p'))"
        " AND (partner_payloads::jsonb) ? (SELECT replace(dpor_rls_partner()::text, '-', '')))",
    ),
    "webhook_endpoints": _reach(
        "WEBHOOK_ENDPOINT",
        "((SELECT dpor_rls_reaches('WEBHOOK_ENDPOINT.t')) AND tenant_id = (SELECT dpor_rls_tenant()))",
        f"((SELECT dpor_rls_reaches('WEBHOOK_ENDPOINT.p')) AND {_OWN_PARTNER})",
    ),
}


def _alter(reaches: dict[str, str]) -> None:
    for table, reach in reaches.items():
        op.execute(f"ALTER POLICY {POLICY} ON {table} USING ({reach}) WITH CHECK ({reach})")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for helper in _HELPERS.split("\n$$;\n"):
        if helper.strip():
            op.execute(helper + "\n$$")
    _alter(_REACH)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    spec = importlib.util.spec_from_file_location("_revision_0012", Path(__file__).with_name("0012_rls_policies.py"))
    assert spec is not None and spec.loader is not None
    revision_0012: Any = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(revision_0012)
    _alter({table: revision_0012._REACH[table] for table in _REACH})
    for helper in _HELPER_NAMES:
        op.execute(f"DROP FUNCTION {helper}")
