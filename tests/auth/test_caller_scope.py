"""auth.scope: a returning caller's tenant and partner ids cost no statement; what may change is looked up again."""

from __future__ import annotations

from datetime import UTC, datetime

from auth.principal import Role
from db.delegation import DelegatedAdminRelationship
from db.engine import Database
from db.enums import DelegationStatus
from tests import factories
from tests.api import Api, principal

VIEWER = "{ viewer { roles tenant { displayName } partner { name } } }"


async def test_a_known_tenant_costs_no_scope_statement_the_second_time(api: Api, database: Database) -> None:
    async with database.write() as session:
        tenant = factories.tenant()
        await factories.add_flushed(session, tenant)
    owner = principal(Role.OWNER, tenant=tenant.external_id)

    async with api.counting() as first:
        await api.data(VIEWER, as_=owner)
    async with api.counting() as second:
        data = await api.data(VIEWER, as_=owner)

    assert data["viewer"]["tenant"]["displayName"] == tenant.display_name
    assert first.count == second.count + 1, (first.statements, second.statements)


async def test_an_unknown_tenant_is_looked_up_again_until_it_exists(api: Api, database: Database) -> None:
    tenant = factories.tenant()
    owner = principal(Role.OWNER, tenant=tenant.external_id)
    assert (await api.data(VIEWER, as_=owner))["viewer"]["tenant"] is None

    async with database.write() as session:
        await factories.add_flushed(session, tenant)

    assert (await api.data(VIEWER, as_=owner))["viewer"]["tenant"]["displayName"] == tenant.display_name


async def test_a_delegation_ended_between_two_requests_ends_the_role_at_once(api: Api, database: Database) -> None:
    async with database.write() as session:
        customer, partner = factories.tenant(), factories.partner()
        await factories.add_flushed(session, customer, partner)
        relationship = DelegatedAdminRelationship(tenant_id=customer.id, partner_id=partner.id)
        await factories.add_flushed(session, relationship)
    caller = principal(Role.DELEGATED_ADMIN, tenant=customer.external_id, partner=partner.mpn_id)
    assert (await api.data(VIEWER, as_=caller))["viewer"]["roles"] == ["DELEGATED_ADMIN"]

    async with database.write() as session:
        row = await session.get(DelegatedAdminRelationship, relationship.id)
        assert row is not None
        row.status, row.ended_at = DelegationStatus.ENDED, datetime.now(UTC)

    assert (await api.data(VIEWER, as_=caller))["viewer"]["roles"] == []
