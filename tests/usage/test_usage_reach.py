"""Usage reach is a row filter: auth.policy.usage_filter picks ONE of READ[USAGE]'s filters for the row in hand,
and auth.row_filters.usage_predicate turns it into the SQL every usage statement carries (the statements and
their answers are tested in tests/usage/test_usage_aggregates.py; here, which filter and which SQL)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import Table
from sqlalchemy.dialects import postgresql

from auth.policy import READ, Entity, RowFilter
from auth.principal import Principal, Role
from auth.row_filters import Known, usage_predicate, usage_visibility
from auth.scope import CallerScope
from resolvers.usage.rollups import DAILY, MONTHLY

TENANT, OTHER_TENANT, PARTNER = uuid.UUID(int=1), uuid.UUID(int=2), uuid.UUID(int=3)


def caller(*roles: Role, tenant: uuid.UUID | None = TENANT, partner: uuid.UUID | None = PARTNER) -> CallerScope:
    principal = Principal(subject="reach", client_id=None, scopes=frozenset(), roles=frozenset(roles))
    return CallerScope(principal, frozenset(roles), tenant, partner)


def sql(rule: RowFilter, *, joined: bool, tenant: bool = True, partner: bool = True, rollup: Table = DAILY) -> str:
    shape = (Entity.USAGE, frozenset({rule}), Known(tenant, partner))
    compiled = usage_predicate(shape, rollup, joined=joined).compile(dialect=postgresql.dialect())
    return " ".join(str(compiled).split())


@pytest.mark.parametrize("role", list(Role), ids=lambda role: role.value)
def test_a_single_role_reads_usage_under_its_own_filter(role: Role) -> None:
    reach = usage_visibility(caller(role))
    expected = READ[Entity.USAGE].get(role)
    if expected is None:
        assert reach is None
        return
    assert reach is not None
    assert reach.shape[1] == frozenset({expected})
    assert reach.attributed is (expected is RowFilter.ATTRIBUTED_WINDOWS)
    assert reach.parameters == {"scope_tenant_id": TENANT, "scope_partner_id": PARTNER}


def test_a_tenant_admin_who_is_a_partner_reads_each_row_under_the_role_that_reaches_it() -> None:
    both = caller(Role.OWNER, Role.PARTNER)

    def rule(**row: uuid.UUID) -> RowFilter:
        reach = usage_visibility(both, **row)
        assert reach is not None
        (found,) = reach.shape[1]
        return found

    assert rule() is RowFilter.OWN_TENANT
    assert rule(row_tenant_id=TENANT) is RowFilter.OWN_TENANT
    assert rule(row_tenant_id=OTHER_TENANT) is RowFilter.ATTRIBUTED_WINDOWS  # reached through the partner
    assert rule(row_partner_id=PARTNER) is RowFilter.ATTRIBUTED_WINDOWS  # its own partner's usage
    assert rule(row_partner_id=uuid.UUID(int=4)) is RowFilter.OWN_TENANT
    admin = usage_visibility(caller(Role.PLATFORM_ADMIN, Role.PARTNER), row_partner_id=PARTNER)
    assert admin is not None and admin.shape[1] == frozenset({RowFilter.ALL})


def test_a_role_whose_tenant_or_partner_is_unknown_reads_no_usage() -> None:
    unknown = usage_visibility(caller(Role.OWNER, Role.PARTNER, tenant=None, partner=None), row_tenant_id=TENANT)
    assert unknown is not None
    (rule,) = unknown.shape[1]
    assert rule in {RowFilter.OWN_TENANT, RowFilter.ATTRIBUTED_WINDOWS}
    assert sql(rule, joined=True, tenant=False, partner=False) == "false"
    assert sql(RowFilter.OWN_TENANT, joined=False, tenant=False) == "false"
    assert sql(RowFilter.ATTRIBUTED_WINDOWS, joined=True, partner=False) == "false"


def test_the_filters_as_sql() -> None:
    assert sql(RowFilter.ALL, joined=True) == "true"
    own = (
        "usage_daily_rollups.subscription_id IN (SELECT subscriptions.id FROM subscriptions"
        " WHERE subscriptions.tenant_id = %(scope_tenant_id)s::UUID)"
    )
    assert sql(RowFilter.OWN_TENANT, joined=False) == own
    assert sql(RowFilter.DELEGATED_TENANT, joined=False) == own
    # Joined, on both tables of the join.
    assert sql(RowFilter.OWN_TENANT, joined=True) == own + " AND " + own.replace(
        "usage_daily_rollups", "partner_associations"
    )
    assert (
        sql(RowFilter.ATTRIBUTED_WINDOWS, joined=True) == "partner_associations.partner_id = %(scope_partner_id)s::UUID"
    )
    # A partner's usage without its associations' windows: none.
    assert sql(RowFilter.ATTRIBUTED_WINDOWS, joined=False) == "false"
    assert sql(RowFilter.OWN_TENANT, joined=False, rollup=MONTHLY) == own.replace("daily", "monthly")
