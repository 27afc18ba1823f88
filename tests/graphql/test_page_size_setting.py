"""DPOR_MAX_PAGE_SIZE is the one page-size bound: the cost check and every connection's resolver read the same
setting. Before, the resolvers had their own hard-coded 100, so DPOR_MAX_PAGE_SIZE=200 let `first: 150` through the
cost check and the resolver then refused it."""

from __future__ import annotations

from typing import Any

import pytest

from auth.principal import Role
from db.engine import Database
from tests import factories
from tests.api import error_codes, principal
from tests.resilience_support import gateway

ADMIN = principal(Role.PLATFORM_ADMIN)
ROOT = "query($first: Int) { subscriptions(first: $first) { totalCount edges { cursor node { id } } } }"
NESTED = """query($id: ID!, $first: Int) { tenant(id: $id) {
  subscriptions(first: $first) { totalCount edges { node { displayName } } } } }"""


async def _tenant_with_subscriptions(database: Database, count: int) -> str:
    from schema import global_id

    async with database.write() as session:
        tenant = factories.tenant()
        await factories.add_flushed(session, tenant)
        await factories.add_flushed(session, *(factories.subscription(tenant) for _ in range(count)))
    return global_id.encode("Tenant", tenant.id)


def _edges(body: dict[str, Any], *path: str) -> list[Any]:
    value = body["data"]
    for key in path:
        value = value[key]
    edges: list[Any] = value["edges"]
    return edges


@pytest.mark.parametrize("first", [150, 200])
async def test_a_larger_setting_admits_larger_pages_end_to_end(database: Database, first: int) -> None:
    tenant = await _tenant_with_subscriptions(database, 210)
    async with gateway(database, max_page_size=200) as api:
        root = await api.execute(ROOT, {"first": first}, as_=ADMIN)
        nested = await api.execute(NESTED, {"id": tenant, "first": first}, as_=ADMIN)
        over = await api.execute(ROOT, {"first": 201}, as_=ADMIN)
    assert "errors" not in root and len(_edges(root, "subscriptions")) == first
    assert "errors" not in nested and len(_edges(nested, "tenant", "subscriptions")) == first
    assert error_codes(over) == ["BAD_USER_INPUT"]
    assert over["errors"][0]["extensions"]["maximum"] == 200


async def test_a_smaller_setting_bounds_pages_and_the_default(database: Database) -> None:
    tenant = await _tenant_with_subscriptions(database, 30)
    async with gateway(database, max_page_size=10) as api:
        refused = await api.execute(ROOT, {"first": 11}, as_=ADMIN)
        nested_refused = await api.execute(NESTED, {"id": tenant, "first": 11}, as_=ADMIN)
        default = await api.execute(ROOT, {}, as_=ADMIN)
        nested_default = await api.execute(NESTED, {"id": tenant}, as_=ADMIN)
    for body in (refused, nested_refused):
        assert error_codes(body) == ["BAD_USER_INPUT"], body
        assert body["errors"][0]["extensions"]["maximum"] == 10
    # Without `first`, a page is the default size, never more than the bound (what the cost check assumes too).
    assert len(_edges(default, "subscriptions")) == 10
    assert len(_edges(nested_default, "tenant", "subscriptions")) == 10
