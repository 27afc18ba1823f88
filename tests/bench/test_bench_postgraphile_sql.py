"""PostGraphile's schema for the benchmark (bench/postgraphile/schema.sql) answers the gateway's usage reads.

The benchmark checks PostGraphile itself against the gateway before measuring (`python -m bench.postgraphile
check`, which needs Node and npm); this test needs neither: it calls the SQL functions PostGraphile would call,
directly, on a synthetic dataset, and compares their rows with the gateway's `data` for the same reads over many
windows (partial days, whole months, leftover days, windows inside one month). The JWT + row-level security
variant is run as PostGraphile runs it: SET LOCAL ROLE and the token's claims in jwt.claims.* (PostgreSQL only).
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from auth.principal import Role
from bench import dataset, operations
from bench.postgraphile.database import RLS_ROLE, apply_schema, scope_roles
from db.engine import Database
from gateway.seed.synthetic import SyntheticSpec, load_synthetic
from schema import global_id
from tests import databases
from tests.api import Api, principal

PARTNER_USAGE = """
SELECT u.month::text AS month, u.currency, u.quantity::text AS quantity, u.amount::text AS amount
FROM postgraphile_bench.partners p, postgraphile_bench.partners_attributed_usage(p, $2, $3) u WHERE p.id = $1
"""
TENANT_USAGE = """
SELECT u.month::text AS month, u.service, u.currency, u.quantity::text AS quantity, u.amount::text AS amount
FROM postgraphile_bench.tenants t, postgraphile_bench.tenants_usage(t, $2, $3) u WHERE t.id = $1
"""
ATTRIBUTED_AMOUNTS = """
SELECT u.currency, u.amount
FROM postgraphile_bench.subscriptions s, postgraphile_bench.subscriptions_attributed_amounts(s, $2, $3, $4) u
WHERE s.id = $1
"""
PAGE = "SELECT s.id FROM postgraphile_bench.attributed_subscriptions($1) s LIMIT $2"


def _windows(rng: random.Random, last_day: date, count: int) -> list[tuple[date, date]]:
    windows = []
    for _ in range(count):
        first = last_day - timedelta(days=rng.randrange(390))
        last = min(last_day, first + timedelta(days=rng.choice([0, 1, 6, 27, 30, 45, 90, 200, 364])))
        if rng.random() < 0.3:
            first = first.replace(day=1)
        windows.append((first, last))
    return windows


async def _as_caller(connection: asyncpg.Connection, scope: str, claim: str, value: str) -> None:
    """What PostGraphile does for a verified token, inside the caller's transaction."""
    await connection.execute(f"SET LOCAL ROLE {RLS_ROLE}")
    await connection.execute(
        "SELECT set_config('jwt.claims.scope', $1, true), set_config($2, $3, true)", scope, f"jwt.claims.{claim}", value
    )


class TestPostGraphileSchemaAnswersAsTheGateway:
    # Collected only when a PostgreSQL server is configured; never a SQLite case, never a skip.
    __test__ = "postgresql" in databases.backends()
    pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

    async def test_usage_and_attributed_amounts(self, api: Api, database: Database) -> None:
        yesterday = datetime.now(UTC).date() - timedelta(days=1)
        spec = SyntheticSpec(tenants=4, subscriptions_per_tenant=3, partners=3, days=400, end_date=yesterday)
        await load_synthetic(database, spec)
        url = database.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        await apply_schema(url)
        sample = await dataset.sample(url, random.Random(1))
        rng = random.Random(2)
        roles = {role: scope for scope, role in scope_roles().items()}
        connection = await asyncpg.connect(url)
        rows = amounts = 0
        try:
            for partner in sample.partners:
                caller = principal(Role.PARTNER, partner=partner.mpn_id)
                for first, last in _windows(rng, yesterday, 8):
                    variables: dict[str, Any] = {"id": partner.global_id, "from": str(first), "to": str(last)}
                    expected = (await api.data(operations.PARTNER_ATTRIBUTED_USAGE, variables, as_=caller))["node"]
                    found = [dict(r) for r in await connection.fetch(PARTNER_USAGE, partner.id, first, last)]
                    assert found == expected["attributedUsage"], variables
                    rows += len(found)
                    async with connection.transaction():
                        await _as_caller(connection, roles["PARTNER"], "partner_id", partner.mpn_id)
                        as_partner = await connection.fetch(PARTNER_USAGE, partner.id, first, last)
                        assert [dict(r) for r in as_partner] == found, variables
                        others = [p for p in sample.partners if p != partner]
                        assert not await connection.fetch(PARTNER_USAGE, others[0].id, first, last)
                    page_variables = {"first": 50, "monthStart": str(first), "today": str(last)}
                    page = await api.data(operations.ATTRIBUTED_SUBSCRIPTIONS, page_variables, as_=caller)
                    edges = page["attributedSubscriptions"]["edges"]
                    ids = [r["id"] for r in await connection.fetch(PAGE, partner.mpn_id, 50)]
                    assert [str(i) for i in ids] == [
                        str(global_id.decode(edge["node"]["id"], "Subscription")) for edge in edges
                    ]
                    for subscription_id, edge in zip(ids, edges, strict=True):
                        found_amounts = await connection.fetch(
                            ATTRIBUTED_AMOUNTS, subscription_id, first, last, partner.mpn_id
                        )
                        usage = [
                            {"currency": r["currency"], "attribution": {"amount": r["amount"]}} for r in found_amounts
                        ]
                        assert usage == edge["node"]["usage"], (page_variables, subscription_id)
                        amounts += len(usage)
            for subscription in sample.subscriptions[:6]:
                owner = principal(Role.OWNER, tenant=subscription.tenant_external_id)
                for first, last in _windows(rng, yesterday, 4):
                    variables = {"id": subscription.tenant_global_id, "from": str(first), "to": str(last)}
                    expected = (await api.data(operations.TENANT_USAGE, variables, as_=owner))["tenant"]
                    found = [dict(r) for r in await connection.fetch(TENANT_USAGE, subscription.tenant_id, first, last)]
                    assert found == expected["usage"], variables
                    rows += len(found)
                    async with connection.transaction():
                        await _as_caller(connection, roles["OWNER"], "tid", str(subscription.tenant_external_id))
                        as_owner = await connection.fetch(TENANT_USAGE, subscription.tenant_id, first, last)
                        assert [dict(r) for r in as_owner] == found, variables
                        other = next(s for s in sample.subscriptions if s.tenant_id != subscription.tenant_id)
                        assert not await connection.fetch(TENANT_USAGE, other.tenant_id, first, last)
        finally:
            await connection.close()
        assert rows > 0 and amounts > 0
