"""The usage floors (bench.floor_usage), op (1)'s floor (bench.floor.attributed_data, whose nested usage is a
usage aggregate) answer what the gateway answers, with the gateway's statements.

The floor builds its statements with the gateway's own builders (resolvers.usage.plan, resolvers.reads.attributed,
resolvers.queries), compiled for asyncpg (bench.floor_sql): these tests run it against the gateway on a small
synthetic dataset, every sampled tenant and partner, in every shape of window, and check floor data == gateway
data and that every statement the floor sent (but its own caller-scope lookup) is one the gateway sent for the same
request. PostgreSQL only (the floor is asyncpg).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from auth.principal import Principal, Role
from auth.row_filters import SCOPE_PARTNER_ID, usage_visibility
from bench import dataset, floor, floor_usage, operations
from bench.floor_scope import SCOPE_PARTNER, SCOPE_TENANT
from bench.floor_sql import compiled
from db.engine import Database
from gateway.seed.synthetic import SyntheticSpec, load_synthetic
from resolvers.queries import IDS, PAGE_LIMIT
from resolvers.reads.attributed import PARTNER_ID
from resolvers.usage.aggregate_types import AggregateFilter
from resolvers.usage.plan import plan
from tests import databases
from tests.api import Api, api_for, principal


def _normalized(sql: str) -> str:
    return " ".join(sql.split())


class Recording:
    """An asyncpg connection that notes the text of every statement sent through it."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self.connection, self.statements = connection, list[str]()

    async def fetch(self, sql: str, *args: Any) -> Any:
        self.statements.append(sql)
        return await self.connection.fetch(sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        self.statements.append(sql)
        return await self.connection.fetchval(sql, *args)


@asynccontextmanager
async def _connected(database: Database) -> AsyncIterator[Recording]:
    url = database.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(url)
    try:
        yield Recording(connection)
    finally:
        await connection.close()


async def _same(
    api: Api,
    connection: Recording,
    document: str,
    variables: dict[str, Any],
    caller: Principal,
    answer: Callable[[Any], Awaitable[dict[str, Any]]],
) -> dict[str, Any]:
    """The gateway's data for the request, checked equal to the floor's (`answer`) and made of its statements."""
    async with api.counting() as counter:
        gateway = await api.data(document, variables, as_=caller)
    connection.statements.clear()
    assert await answer(connection) == gateway, variables
    sent = {_normalized(sql) for sql in counter.statements}
    own = {_normalized(SCOPE_TENANT), _normalized(SCOPE_PARTNER)}
    foreign = [sql for sql in map(_normalized, connection.statements) if sql not in sent | own]
    assert not foreign, (variables, foreign, sorted(sent))
    return gateway


async def _sample(database: Database) -> dataset.Sample:
    # 400 days, as the benchmark's datasets: associations start and end inside the 12-month window, so
    # partial days, whole months and leftover days all occur.
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    spec = SyntheticSpec(tenants=4, subscriptions_per_tenant=3, partners=3, days=400, end_date=yesterday)
    await load_synthetic(database, spec)
    url = database.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    return await dataset.sample(url, random.Random(1))


class TestFloorAnswersAsTheGateway:
    # Collected only when a PostgreSQL server is configured; never a SQLite case, never a skip.
    __test__ = "postgresql" in databases.backends()
    pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

    @pytest.fixture
    async def api(self, database: Database) -> AsyncIterator[Api]:
        """The gateway on its interpreter: the floor sends the interpreter's statements, which a compiled request
        (one statement of its own) does not. Compiled answers are held to the interpreter's by tests/compiled/."""
        async with api_for(database, compiled_reads=False) as interpreted:
            yield interpreted

    async def test_usage_reads(self, api: Api, database: Database) -> None:
        sample = await _sample(database)
        first_day, last_day = operations.twelve_months()
        # Today's window and windows ending a month back whose last month is read whole, less its days outside
        # the window, and day by day (month_span): every shape of the usage SQL, whatever the day.
        month = (date.fromisoformat(last_day).replace(day=1) - timedelta(days=1)).replace(day=1)
        ends = [(month + timedelta(days=32)).replace(day=1) - timedelta(days=1), month + timedelta(days=19), month]
        windows = [(first_day, last_day), *((first_day, end.isoformat()) for end in ends)]
        compared = 0
        async with _connected(database) as connection:
            for subscription in sample.subscriptions:
                owner = principal(Role.OWNER, tenant=subscription.tenant_external_id)
                for start, end in windows:
                    variables: dict[str, Any] = {"id": subscription.tenant_global_id, "from": start, "to": end}
                    body = {**variables, "tenantExternalId": str(subscription.tenant_external_id)}
                    gateway = await _same(
                        api, connection, operations.TENANT_USAGE, variables, owner,
                        lambda connection, body=body: floor_usage.tenant_usage(connection, body),
                    )  # fmt: skip
                    compared += bool(gateway["tenant"]["usage"]) and end == last_day
            for partner in sample.partners:
                caller = principal(Role.PARTNER, partner=partner.mpn_id)
                for start, end in windows:
                    variables = {"id": partner.global_id, "from": start, "to": end}
                    body = {**variables, "partnerMpnId": partner.mpn_id}
                    gateway = await _same(
                        api, connection, operations.PARTNER_ATTRIBUTED_USAGE, variables, caller,
                        lambda connection, body=body: floor_usage.partner_usage(connection, body),
                    )  # fmt: skip
                    compared += bool(gateway["node"]["attributedUsage"]) and end == last_day
        assert compared == len(sample.subscriptions) + len(sample.partners)

    async def test_attributed_subscriptions(self, api: Api, database: Database) -> None:
        # Op (1) with its nested current-month usage, in every window shape whatever today is.
        sample = await _sample(database)
        month_start, today = (date.fromisoformat(day) for day in operations.current_month())
        # The previous month: whole, to its 20th (the rest subtracted from its monthly row), its first day alone.
        previous = (month_start - timedelta(days=1)).replace(day=1)
        ends = [month_start - timedelta(days=1), previous + timedelta(days=19), previous]
        windows = [(month_start, today), *((previous, end) for end in ends)]
        amounts = 0
        async with _connected(database) as connection:
            for partner in sample.partners:
                caller = principal(Role.PARTNER, partner=partner.mpn_id)
                for first_day, last_day in windows:
                    for first in (1, operations.ATTRIBUTED_PAGE):
                        variables: dict[str, Any] = {
                            "first": first,
                            "monthStart": first_day.isoformat(),
                            "today": last_day.isoformat(),
                        }
                        body = {**variables, "partnerMpnId": partner.mpn_id}
                        gateway = await _same(
                            api, connection, operations.ATTRIBUTED_SUBSCRIPTIONS, variables, caller,
                            lambda connection, body=body: floor.attributed_data(connection, body),
                        )  # fmt: skip
                        edges = gateway["attributedSubscriptions"]["edges"]
                        amounts += sum(len(edge["node"]["usage"]) for edge in edges)
        assert amounts > 0


def test_the_floor_compiles_its_attributed_and_node_statements_once() -> None:
    """Op (1)'s statements: the gateway's builders' (the first page counted and read with its tenants, and the
    page's associations), compiled at start-up, every $n bound by name."""
    assert floor.prepare() == 2
    statements = floor._attributed()
    assert statements is floor._attributed()
    page = compiled(statements.page)
    assert compiled(statements.page) is page
    assert set(page.names) == {SCOPE_PARTNER_ID, PARTNER_ID, PAGE_LIMIT}
    assert set(compiled(statements.associations).names) == {SCOPE_PARTNER_ID, PARTNER_ID, IDS}


def test_the_floor_compiles_the_gateways_usage_statements_once() -> None:
    """At start-up, for the benchmark's windows: the gateway's plan for them, every parameter bound by name."""
    first, last = (date.fromisoformat(day) for day in operations.twelve_months())
    month_start, today = (date.fromisoformat(day) for day in operations.current_month())
    assert floor_usage.prepare((first, last), (month_start, today)) >= 8
    tenant = uuid.UUID(int=5)
    reach = usage_visibility(floor_usage.caller(Role.OWNER, tenant_id=tenant), row_tenant_id=tenant)
    assert reach is not None
    read = AggregateFilter(first, last, tenant_ids=frozenset({tenant}))
    planned = plan(read, floor_usage.TENANT_USAGE_GROUPS, floor_usage.DIALECT, reach)
    assert planned is not None and planned.sums
    for statement in planned.sums:
        found = compiled(statement)
        assert compiled(statement) is found
        assert "$1" in found.sql and set(found.names) <= {*planned.parameters, *found.constants}
        assert tenant in found.arguments(planned.parameters)  # the row filter's scope_tenant_id
