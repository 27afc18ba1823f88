"""PostgreSQL refusing another connection ("too many clients", SQLSTATE 53300) is DATABASE_UNAVAILABLE with
`Retry-After`, not INTERNAL; and `serve` says at start-up when the pools of all its workers could ask for more
connections than the server gives. PostgreSQL only (SQLite has no connection limit): never a skip."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from auth.principal import Role
from db import pool_budget
from db.engine import Database
from tests import databases
from tests.api import api_for, principal, token_for

OWNER = principal(Role.OWNER, tenant=uuid.UUID("6f1c1a52-8a8e-4d3e-9d55-0c0b8c1f2a11"))
READ = "{ subscriptions(first: 5) { totalCount } }"


def admin_dsn() -> str:
    return make_url(os.environ[databases.POSTGRES_URL_VARIABLE]).set(drivername="postgresql").render_as_string(False)


async def limited_role(limit: int) -> AsyncIterator[str]:
    name = f"dpor_limited_{uuid.uuid4().hex[:12]}"
    connection = await asyncpg.connect(admin_dsn(), timeout=10)
    try:
        await connection.execute(f"CREATE ROLE {name} LOGIN CONNECTION LIMIT {limit}")
        yield name
    finally:
        await connection.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", name)
        await connection.execute(f"DROP ROLE IF EXISTS {name}")
        await connection.close()


class TestTooManyClients:
    __test__ = "postgresql" in databases.backends()
    pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

    @pytest.fixture
    async def no_connection_role(self) -> AsyncIterator[str]:
        async for name in limited_role(0):
            yield name

    @pytest.fixture
    async def two_connection_role(self) -> AsyncIterator[str]:
        async for name in limited_role(2):
            yield name

    async def test_a_refused_connection_is_database_unavailable_with_retry_after(
        self, database_url: str, no_connection_role: str
    ) -> None:
        url = make_url(database_url).set(username=no_connection_role).render_as_string(hide_password=False)
        database = Database.from_url(url, pool_size=2)
        try:
            async with api_for(database) as api:
                response = await api.client.post(
                    "/graphql",
                    json={"query": READ},
                    headers={"authorization": f"Bearer {token_for(api.settings, OWNER)}"},
                )
        finally:
            await database.dispose()
        assert response.status_code == 200, response.text
        body = response.json()
        assert [error["extensions"]["code"] for error in body["errors"]] == ["DATABASE_UNAVAILABLE"], body
        assert response.headers["retry-after"] == "1"

    async def test_the_pool_budget_counts_every_worker_against_the_server(
        self, database_url: str, two_connection_role: str
    ) -> None:
        url = make_url(database_url).set(username=two_connection_role).render_as_string(hide_password=False)
        budget = await pool_budget.check(url, pool_size=10, processes=2)
        assert budget is not None
        assert (budget.needed, budget.role_limit, budget.available) == (40, 2, 2)
        assert not budget.fits
        assert "2 worker(s) x (DPOR_DB_POOL_SIZE 10 + 10 overflow) may open 40" in budget.describe()
        assert "role CONNECTION LIMIT 2" in budget.describe()
        admin = make_url(database_url).render_as_string(hide_password=False)
        roomy = await pool_budget.check(admin, pool_size=1, processes=1)
        assert roomy is not None and roomy.fits and roomy.available == roomy.max_connections - roomy.reserved
