"""Usage fields on the compiled path (resolvers/compiled/usage.py): one statement for the benchmark's usage reads,
the interpreter's Decimal text at its edges, and the interpreter's answer where it refuses after SQL.

Each check sends the same request to a compiled and an interpreted gateway over one PostgreSQL database and
requires the same answer, and says which path served it (the access log's `execution`), so a test cannot pass
by falling back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from auth.principal import Principal, Role
from bench.operations import TENANT_USAGE, twelve_months
from db.engine import Database
from db.models import Tenant
from gateway.seed.demo import DEMO_OWNER_TENANT_EXTERNAL_ID, load_demo
from resolvers.usage.ingestion import ingest_usage
from schema import global_id
from tests import databases
from tests.api import Api, api_for, principal
from tests.usage_helpers import build_world, record

pytestmark = [
    pytest.mark.skipif("postgresql" not in databases.backends(), reason="compiled reads run on PostgreSQL only"),
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
]

TENANT_OWNER = principal(Role.OWNER, tenant=DEMO_OWNER_TENANT_EXTERNAL_ID)
JANUARY = {"from": "2025-01-01", "to": "2025-01-31"}


@dataclass
class Twins:
    compiled: Api
    interpreted: Api
    caplog: pytest.LogCaptureFixture
    statements: int = 0  # of the compiled gateway's last answer

    async def answer(self, document: str, variables: dict[str, Any], caller: Principal) -> tuple[dict[str, Any], str]:
        """The compiled gateway's answer, after checking it is the interpreter's; and which path served it."""
        self.caplog.clear()
        with self.caplog.at_level("INFO", logger="dpor.access"):
            async with self.compiled.counting() as counter:
                ours = await self.compiled.execute(document, variables, as_=caller)
        self.statements = counter.count
        paths = [record.__dict__["execution"] for record in self.caplog.records if "execution" in record.__dict__]
        reference = await self.interpreted.execute(document, variables, as_=caller)
        assert orjson.dumps(ours) == orjson.dumps(reference)
        return ours, paths[-1]


@asynccontextmanager
async def twins(database: Database, caplog: pytest.LogCaptureFixture, **overrides: Any) -> AsyncIterator[Twins]:
    """Without the rate limit: its remaining budget, in `extensions`, differs between the two gateways."""
    overrides["rate_limit_enabled"] = False
    async with (
        api_for(database, **overrides) as compiled,
        api_for(database, compiled_reads=False, **overrides) as other,
    ):
        yield Twins(compiled, other, caplog)


async def _tenant_id(database: Database) -> str:
    async with database.read() as session:
        found = select(Tenant.id).where(Tenant.external_id == DEMO_OWNER_TENANT_EXTERNAL_ID)
        return global_id.encode("Tenant", (await session.execute(found)).scalar_one())


async def test_tenant_usage_by_month_and_service_is_one_statement(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """The benchmark's (2), as its tenant owner sends it."""
    await load_demo(database)
    first, last = twelve_months()
    async with twins(database, caplog) as both:
        variables = {"id": await _tenant_id(database), "from": first, "to": last}
        await both.answer(TENANT_USAGE, variables, TENANT_OWNER)  # the caller's tenant is looked up once
        body, path = await both.answer(TENANT_USAGE, variables, TENANT_OWNER)
    assert path == "compiled" and both.statements == 1
    rows = body["data"]["tenant"]["usage"]
    assert len(rows) > 12 and len({row["month"] for row in rows}) == 12, rows


def _tenant_usage(group_by: str, fields: str) -> str:
    return f"""query($id: ID!, $from: Date!, $to: Date!) {{
      tenant(id: $id) {{ usage(from: $from, to: $to, groupBy: [{group_by}]) {{ {fields} }} }} }}"""


async def test_decimal_text_at_its_edges_is_the_interpreters(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """Zero sums, credits cancelling to zero, negative totals, tiny and large values, currencies of 0 to 4 minor
    units: the rollups' numeric text equals str() of the interpreter's Decimal sums."""
    world = await build_world(database, tenants=1, subscriptions=2, partners=0)
    (tenant,), (one, two) = world.tenants, world.subscriptions
    jan, dec = date(2025, 1, 3), date(2024, 12, 31)
    records = [
        record(one, jan, meter="a", quantity="0", amount="0", currency="JPY"),
        record(one, jan, meter="b", quantity="0.000001", amount="-0.001", currency="BHD"),
        record(two, jan, meter="b", quantity="0.000001", amount="-0.001", currency="BHD"),
        record(
            one,
            jan,
            meter="c",
            quantity="123456789012.123456",
            amount="999999999999.999999",
            currency="CLF",
        ),
        record(
            two,
            jan,
            meter="c",
            quantity="123456789012.123456",
            amount="999999999999.999999",
            currency="CLF",
        ),
        record(one, jan, meter="d", amount="5", currency="EUR"),
        record(two, date(2025, 1, 31), meter="d", amount="-5", currency="EUR"),
        record(one, dec, meter="d", amount="7", currency="EUR"),
        record(one, jan, meter="e", quantity="0.1", amount="0.1"),
        record(two, jan, meter="e", quantity="0.2", amount="0.2"),
    ]
    async with database.write() as session:
        await ingest_usage(session, records)
    owner = principal(Role.OWNER, tenant=tenant.external_id)
    variables = {"id": global_id.encode("Tenant", tenant.id), **JANUARY}
    async with twins(database, caplog) as both:
        answers = {}
        for group_by in ("", "MONTH", "DAY, SERVICE", "SUBSCRIPTION"):
            answers[group_by], path = await both.answer(
                _tenant_usage(
                    group_by, "month day service currency quantity amount recordCount attribution { amount }"
                ),
                variables,
                owner,
            )
            assert path == "compiled", answers[group_by]
    texts = {row["currency"]: (row["quantity"], row["amount"]) for row in answers[""]["data"]["tenant"]["usage"]}
    assert texts["JPY"] == ("0.000000", "0.000000") and texts["EUR"][1] == "0.000000", texts
    assert texts["CLF"] == ("246913578024.246912", "1999999999999.999998"), texts


async def test_more_rows_than_max_usage_rows_is_the_interpreters_refusal(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """usage_group_size=1 lets SUBSCRIPTION grouping through the cost estimate (one row); three subscriptions make
    three rows: over a bound of 2 the compiled statement writes MISSING and the interpreter refuses."""
    world = await build_world(database, tenants=1, subscriptions=3, partners=0)
    async with database.write() as session:
        await ingest_usage(session, [record(sub, date(2025, 1, 1)) for sub in world.subscriptions])
    (tenant,) = world.tenants
    owner = principal(Role.OWNER, tenant=tenant.external_id)
    document = _tenant_usage("SUBSCRIPTION", "amount")
    variables = {"id": global_id.encode("Tenant", tenant.id), **JANUARY}
    async with twins(database, caplog, usage_group_size=1, max_usage_rows=2) as both:
        refused, path = await both.answer(document, variables, owner)
    assert path == "interpreted"
    assert [error["extensions"]["code"] for error in refused["errors"]] == ["TOO_MANY_USAGE_ROWS"], refused
    async with twins(database, caplog, usage_group_size=1, max_usage_rows=3) as both:
        answered, path = await both.answer(document, variables, owner)
    assert path == "compiled" and len(answered["data"]["tenant"]["usage"]) == 3, answered


async def test_a_window_the_interpreter_refuses_is_its_error(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """A backwards window, then a good one of the same document: the plan key keeps them apart."""
    world = await build_world(database, tenants=1, subscriptions=1, partners=0)
    (tenant,) = world.tenants
    async with database.write() as session:
        await ingest_usage(session, [record(world.subscriptions[0], date(2025, 1, 10))])
    owner = principal(Role.OWNER, tenant=tenant.external_id)
    document = _tenant_usage("MONTH", "month amount")
    tenant_id = global_id.encode("Tenant", tenant.id)
    async with twins(database, caplog) as both:
        for window, expected in (
            ({"from": "2025-02-01", "to": "2025-01-01"}, "interpreted"),
            (JANUARY, "compiled"),
            ({"from": "2025-01-05", "to": "2025-01-20"}, "compiled"),  # another month span: another plan
            ({"from": "1999-01-01", "to": "1999-12-31"}, "compiled"),  # no usage day at all
        ):
            body, path = await both.answer(document, {"id": tenant_id, **window}, owner)
            assert path == expected, (window, body)
