"""No N+1: the number of SQL statements of a request does not grow with page size."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from auth.principal import Role
from db.engine import Database
from db.enums import AssociationType
from resolvers.usage.ingestion import ingest_usage
from tests import factories
from tests.api import Api, api_for, principal
from tests.usage_helpers import record

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


@pytest.mark.parametrize("count", [2, 100])
async def test_nodes_cost_one_statement_per_type_whatever_the_number_of_ids(
    api: Api, database: Database, count: int
) -> None:
    """`nodes(ids:)` batches per type: tenants, subscriptions and a few unknown ids mixed, in the order asked."""
    from schema import global_id

    async with database.write() as session:
        tenants = [factories.tenant() for _ in range(count // 2)]
        await factories.add_flushed(session, *tenants)
        subscriptions = [factories.subscription(tenants[0]) for _ in range(count // 2)]
        await factories.add_flushed(session, *subscriptions)
    ids = [global_id.encode("Tenant", tenant.id) for tenant in tenants]
    ids += [global_id.encode("Subscription", sub.id) for sub in subscriptions]
    ids.insert(1, global_id.encode("Tenant", uuid.uuid4()))  # unknown: null in its place
    ids.insert(3, global_id.encode("NoSuchType", uuid.uuid4()))  # a type that has no nodes: null, no statement
    ids = ids[:100]
    document = """query($ids: [ID!]!) { nodes(ids: $ids) { id
      ... on Tenant { displayName } ... on Subscription { displayName } } }"""
    admin = principal(Role.PLATFORM_ADMIN)

    await api.data(document, {"ids": ids[:1]}, as_=admin)
    async with api.counting() as counter:
        data = await api.data(document, {"ids": ids}, as_=admin)

    assert [node["id"] if node else None for node in data["nodes"]] == [
        None if index in (1, 3) else node_id for index, node_id in enumerate(ids)
    ]
    assert counter.count == 2, counter.statements  # one for the tenants, one for the subscriptions


# Nested usage: two windows per parent (a month through the monthly rollup, and three months by month and
# service), and for tenants their subscriptions' usage one level further down.
USAGE_FIELDS = """
  march: usage(from: "2026-03-01", to: "2026-03-31", groupBy: []) {
    currency amount recordCount attribution { amount partialDays { day seconds } } }
  quarter: usage(from: "2026-02-01", to: "2026-04-30", groupBy: [MONTH, SERVICE]) { month service amount }
"""
NESTED_USAGE = {
    "owner": "query($first: Int!) { subscriptions(first: $first) { edges { node { displayName %s } } } }",
    "partner": """query($first: Int!) { attributedSubscriptions(first: $first) { edges { node { displayName %s } } }
      viewer { partner { attributedUsage(from: "2026-03-01", to: "2026-03-31", groupBy: [MONTH]) { amount } } } }""",
    "admin": """query($first: Int!) { tenants(first: $first) { edges { node { displayName %s
      subscriptions(first: 2) { edges { node { %s } } } } } } }""",
}


async def _usage_world(database: Database) -> dict[str, Any]:
    """101 tenants: the first with 101 subscriptions, the others with one each; every subscription with a DPOR
    from noon on 10 March (a partial day), a transacting partner from 1 March, and usage on 9-11 March."""
    dpor, linked = factories.partner(), factories.partner()
    owner_tenant = factories.tenant()
    others = [factories.tenant() for _ in range(100)]
    async with database.write() as session:
        await factories.add_flushed(session, dpor, linked, owner_tenant, *others)
        subscriptions = [factories.subscription(owner_tenant) for _ in range(101)]
        subscriptions += [factories.subscription(tenant) for tenant in others]
        await factories.add_flushed(session, *subscriptions)
        for sub in subscriptions:
            session.add(factories.association(sub, dpor, valid_from=datetime(2026, 3, 10, 12, tzinfo=UTC)))
            session.add(
                factories.association(
                    sub, linked, type=AssociationType.TRANSACTING_PARTNER, valid_from=datetime(2026, 3, 1, tzinfo=UTC)
                )
            )
        days = [date(2026, 3, 9) + timedelta(days=offset) for offset in range(3)]
        await ingest_usage(session, [record(sub, day, amount="2.50") for sub in subscriptions for day in days])
    return {"dpor": dpor, "owner_tenant": owner_tenant}


@pytest.mark.parametrize("caller", ["owner", "partner", "admin"])
async def test_nested_usage_statements_do_not_grow_with_page_size(database: Database, caller: str) -> None:
    world = await _usage_world(database)
    # 100 parents x a quarter by month and service: more usage rows than the default cap's estimate allows.
    async with api_for(database, max_usage_rows=100_000) as api:
        await _check_nested_usage_statements(api, world, caller)


async def _check_nested_usage_statements(api: Api, world: dict[str, Any], caller: str) -> None:
    who = {
        "owner": principal(Role.OWNER, tenant=world["owner_tenant"].external_id),
        "partner": principal(Role.PARTNER, partner=world["dpor"].mpn_id),
        "admin": principal(Role.PLATFORM_ADMIN),
    }[caller]
    document = NESTED_USAGE[caller] % ((USAGE_FIELDS,) * NESTED_USAGE[caller].count("%s"))
    root = {"owner": "subscriptions", "partner": "attributedSubscriptions", "admin": "tenants"}[caller]

    await api.data(document, {"first": 1}, as_=who)  # steady state: the caller's ids are remembered (auth/scope.py)
    counts = {}
    for first in (5, 100):
        async with api.counting() as counter:
            data = await api.data(document, {"first": first}, as_=who)
        edges = data[root]["edges"]
        assert len(edges) == first
        # Every parent got its own usage (each subscription has some in March): the batches reached them all.
        march = [edge["node"]["march"] for edge in edges]
        assert all(rows and rows[0]["amount"] for rows in march), march
        counts[first] = counter.count

    assert counts[5] == counts[100], counts
