"""No N+1: the number of SQL statements of a request does not grow with page size."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from auth.principal import Role
from db.engine import Database
from db.enums import AssociationType
from tests import factories
from tests.api import Api, principal

NESTED_TENANTS = """
query($first: Int!) {
  tenants(first: $first) {
    totalCount
    edges { node {
      displayName
      subscriptions(first: $first) {
        totalCount
        edges { node {
          displayName version
          tenant { displayName }
          digitalPartnerOfRecord { validFrom partner { mpnId name } }
          partnerAssociations(includeEnded: true) { type partner { name } }
          associationHistory(first: 3) { edges { node { endReason } } }
        } }
      }
      delegatedAdminRelationships { status partner { name } }
      contacts(first: 2) { edges { node { email } } }
    } }
  }
}
"""

ATTRIBUTED = """
query($first: Int!) {
  attributedSubscriptions(first: $first) {
    totalCount
    edges { associations { type validFrom } node { displayName tenant { displayName }
      digitalPartnerOfRecord { partner { mpnId } } } }
  }
}
"""


async def _world(database: Database, *, tenants: int, subscriptions_per_tenant: int) -> str:
    """A dataset wider than the largest page; returns the MPN id of the partner attributed to everything."""
    dpor = factories.partner()
    linked = factories.partner()
    async with database.write() as session:
        await factories.add_flushed(session, dpor, linked)
        for _ in range(tenants):
            tenant = factories.tenant()
            await factories.add_flushed(session, tenant)
            for _ in range(subscriptions_per_tenant):
                sub = factories.subscription(tenant)
                await factories.add_flushed(session, sub)
                session.add(factories.association(sub, dpor))
                session.add(
                    factories.association(
                        sub,
                        linked,
                        type=AssociationType.TRANSACTING_PARTNER,
                        valid_from=datetime(2025, 6, 1, tzinfo=UTC),
                    )
                )
    return dpor.mpn_id


@pytest.mark.parametrize(("query", "caller"), [("tenants", "admin"), ("attributed", "partner")])
async def test_statements_do_not_grow_with_page_size(api: Api, database: Database, query: str, caller: str) -> None:
    mpn_id = await _world(database, tenants=101, subscriptions_per_tenant=2)
    document = NESTED_TENANTS if query == "tenants" else ATTRIBUTED
    who = principal(Role.PLATFORM_ADMIN) if caller == "admin" else principal(Role.PARTNER, partner=mpn_id)

    # Steady state: the caller's scope is resolved (and its ids remembered) by the first request (auth/scope.py).
    await api.data(document, {"first": 1}, as_=who)
    counts = {}
    for first in (5, 100):
        async with api.counting() as counter:
            data = await api.data(document, {"first": first}, as_=who)
        root = data["tenants" if query == "tenants" else "attributedSubscriptions"]
        assert len(root["edges"]) == first
        counts[first] = counter.count

    assert counts[5] == counts[100], counts


async def test_a_partner_page_costs_one_statement_per_level(api: Api, database: Database) -> None:
    mpn_id = await _world(database, tenants=30, subscriptions_per_tenant=2)
    who = principal(Role.PARTNER, partner=mpn_id)
    async with api.counting() as counter:
        await api.data(ATTRIBUTED, {"first": 50}, as_=who)
    # scope, page, count, associations, tenants (batched), DPORs (batched): no statement per row.
    assert counter.count <= 6, counter.statements


async def test_node_lookup_is_one_statement_for_a_platform_admin(api: Api, database: Database) -> None:
    async with database.write() as session:
        tenant = factories.tenant()
        await factories.add_flushed(session, tenant)
    from schema import global_id

    async with api.counting() as counter:
        data = await api.data(
            "query($id: ID!) { node(id: $id) { id ... on Tenant { displayName } } }",
            {"id": global_id.encode("Tenant", tenant.id)},
            as_=principal(Role.PLATFORM_ADMIN),
        )
    assert data["node"]["displayName"] == tenant.display_name
    assert counter.count == 1
