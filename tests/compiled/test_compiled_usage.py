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
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from auth.principal import Principal, Role
from bench.operations import (
    ATTRIBUTED_SUBSCRIPTIONS,
    PARTNER_ATTRIBUTED_USAGE,
    TENANT_USAGE,
    current_month,
    twelve_months,
)
from db.engine import Database
from db.enums import RecognitionRole
from db.models import Partner, Tenant
from gateway.seed.demo import DEMO_OWNER_TENANT_EXTERNAL_ID, DEMO_PARTNER_MPN_ID, load_demo
from resolvers.usage.ingestion import ingest_usage
from schema import global_id
from tests import databases, factories
from tests.api import Api, api_for, principal
from tests.usage_helpers import build_world, record

pytestmark = [
    pytest.mark.skipif("postgresql" not in databases.backends(), reason="compiled reads run on PostgreSQL only"),
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
]

TENANT_OWNER = principal(Role.OWNER, tenant=DEMO_OWNER_TENANT_EXTERNAL_ID)
PARTNER = principal(Role.PARTNER, partner=DEMO_PARTNER_MPN_ID)
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


async def _demo_ids(database: Database) -> tuple[str, str]:
    """The global ids of the demo owner's tenant and of the demo partner."""
    async with database.read() as session:
        tenant = select(Tenant.id).where(Tenant.external_id == DEMO_OWNER_TENANT_EXTERNAL_ID)
        partner = select(Partner.id).where(Partner.mpn_id == DEMO_PARTNER_MPN_ID)
        found = (await session.execute(tenant)).scalar_one(), (await session.execute(partner)).scalar_one()
    return global_id.encode("Tenant", found[0]), global_id.encode("Partner", found[1])


async def test_the_benchmarks_usage_reads_are_one_statement_each(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """(2) as its tenant owner sends it, (5) and (1) as the partner does: one statement, the interpreter's data."""
    await load_demo(database)
    tenant_id, partner_id = await _demo_ids(database)
    (first, last), (month_start, today) = twelve_months(), current_month()
    reads = [
        (TENANT_USAGE, {"id": tenant_id, "from": first, "to": last}, TENANT_OWNER),
        (PARTNER_ATTRIBUTED_USAGE, {"id": partner_id, "from": first, "to": last}, PARTNER),
        (ATTRIBUTED_SUBSCRIPTIONS, {"first": 50, "monthStart": month_start, "today": today}, PARTNER),
    ]
    answers = []
    async with twins(database, caplog) as both:
        for document, variables, caller in reads:
            await both.answer(document, variables, caller)  # the caller's tenant or partner is looked up once
            body, path = await both.answer(document, variables, caller)
            assert (path, both.statements) == ("compiled", 1), body
            answers.append(body["data"])
    tenant_rows, partner_rows = answers[0]["tenant"]["usage"], answers[1]["node"]["attributedUsage"]
    assert len({row["month"] for row in tenant_rows}) == 12 and partner_rows, answers
    edges = answers[2]["attributedSubscriptions"]["edges"]
    assert any(edge["node"]["usage"] for edge in edges), edges


async def test_sibling_attributed_usage_fields_each_read_their_own_associations(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """Two attributedUsage fields of one partner, and two usage fields of each attributed subscription, with other
    windows and types: each reads its own associations (statements.association_spans, declared in its own subquery
    under the same name), still in one statement, with the interpreter's data."""
    await load_demo(database)
    _tenant_id, partner_id = await _demo_ids(database)
    (first, last), (month_start, today) = twelve_months(), current_month()
    partner_document = """query($id: ID!, $from: Date!, $to: Date!, $monthStart: Date!) {
      node(id: $id) { ... on Partner {
        year: attributedUsage(from: $from, to: $to, groupBy: [MONTH]) { month currency quantity amount }
        month: attributedUsage(
          from: $monthStart, to: $to, groupBy: [SERVICE], associationType: DIGITAL_PARTNER_OF_RECORD
        ) { service currency amount attribution { amountExact } }
      } } }"""
    subscriptions_document = """query($from: Date!, $to: Date!, $monthStart: Date!) {
      attributedSubscriptions(first: 20) { edges { node { id
        year: usage(from: $from, to: $to, groupBy: [MONTH]) { month currency amount }
        month: usage(from: $monthStart, to: $to, groupBy: [SERVICE]) { service currency amount }
      } } } }"""
    reads = [
        (partner_document, {"id": partner_id, "from": first, "to": today, "monthStart": month_start}),
        (subscriptions_document, {"from": first, "to": last, "monthStart": month_start}),
    ]
    async with twins(database, caplog) as both:
        for document, variables in reads:
            await both.answer(document, variables, PARTNER)
            body, path = await both.answer(document, variables, PARTNER)
            assert "errors" not in body, body
            assert (path, both.statements) == ("compiled", 1), body


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


ROUNDING = """query($id: ID!) { node(id: $id) { ... on Partner {
  attributedUsage(from: "2025-03-01", to: "2025-03-31", groupBy: [DAY, SERVICE]) {
    day service currency quantity amount recordCount associationType
    attribution { amount amountExact quantity partialDays { subscriptionId day seconds quantity amount } }
  } } } }"""


async def test_attributed_amounts_round_half_to_even_at_exactly_half_a_minor_unit(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """An association from 12:00 UTC: its first day counts half, so each amount below is exactly half a minor unit
    off: half to even, as currencies.present rounds, in currencies of 0, 2, 3 and 4 minor units, and a credit."""
    world = await build_world(database, tenants=1, subscriptions=1, partners=1)
    (sub,), (partner,) = world.subscriptions, world.partners
    first, second = date(2025, 3, 10), date(2025, 3, 11)
    cases = {  # service: (currency, quantity, amount, presented amount of half, attributed quantity of half)
        "a": ("JPY", "0.000001", "1", "0", "0.000000"),
        "b": ("JPY", "0.000003", "3", "2", "0.000002"),
        "c": ("USD", "1", "0.25", "0.12", "0.500000"),
        "d": ("USD", "1", "0.75", "0.38", "0.500000"),
        "e": ("BHD", "1", "0.003", "0.002", "0.500000"),
        "f": ("CLF", "1", "-0.0001", "0.0000", "0.500000"),
    }
    async with database.write() as session:
        session.add(factories.association(sub, partner, valid_from=datetime(2025, 3, 10, 12, tzinfo=UTC)))
        records = [
            record(sub, day, meter=service, service=service, quantity=quantity, amount=amount, currency=currency)
            for service, (currency, quantity, amount, _, _) in cases.items()
            for day in (first, second)
        ]
        await ingest_usage(session, records)
    caller = principal(Role.PARTNER, partner=partner.mpn_id)
    async with twins(database, caplog) as both:
        body, path = await both.answer(ROUNDING, {"id": global_id.encode("Partner", partner.id)}, caller)
    assert path == "compiled", body
    rows = {(row["day"], row["service"]): row for row in body["data"]["node"]["attributedUsage"]}
    for service, (_, _, amount, presented, attributed_quantity) in cases.items():
        half = rows[(first.isoformat(), service)]["attribution"]
        assert (half["amount"], half["quantity"]) == (presented, attributed_quantity), (service, half)
        (partial,) = half["partialDays"]
        assert partial["seconds"] == 43_200 and Decimal(partial["amount"]) == Decimal(amount), partial
        assert rows[(second.isoformat(), service)]["attribution"]["partialDays"] == []
    assert rows[("2025-03-10", "f")]["attribution"]["amountExact"] == "-1/20000"


ROLES = """query($id: ID!) { node(id: $id) { ... on Partner {
  attributedUsage(from: "2025-03-01", to: "2025-03-31", groupBy: [%s]) {
    month recognitionRole associationType attribution { amount } } } } }"""


async def test_grouping_by_recognition_role_compiles(database: Database, caplog: pytest.LogCaptureFixture) -> None:
    """RECOGNITION_ROLE is a key of the compiled sums as of the interpreter's (none named sorts first); without that
    grouping `recognitionRole` is null on every row. Both compile, with the interpreter's answer."""
    world = await build_world(database, tenants=1, subscriptions=2, partners=1)
    (first, second), (partner,) = world.subscriptions, world.partners
    async with database.write() as session:
        session.add_all(
            [
                factories.association(
                    first,
                    partner,
                    valid_from=datetime(2025, 3, 1, tzinfo=UTC),
                    recognition_role=RecognitionRole.SELL_AND_DEPLOY,
                ),
                factories.association(second, partner, valid_from=datetime(2025, 3, 16, tzinfo=UTC)),
            ]
        )
        await ingest_usage(session, [record(sub, date(2025, 3, 20)) for sub in (first, second)])
    caller = principal(Role.PARTNER, partner=partner.mpn_id)
    variables = {"id": global_id.encode("Partner", partner.id)}
    async with twins(database, caplog) as both:
        await both.answer(ROLES % "MONTH, RECOGNITION_ROLE", variables, caller)  # the partner is looked up once
        body, path = await both.answer(ROLES % "MONTH, RECOGNITION_ROLE", variables, caller)
        assert path == "compiled", body
        rows = body["data"]["node"]["attributedUsage"]
        assert [(row["recognitionRole"], row["attribution"]["amount"]) for row in rows] == [
            (None, "1.00"),
            ("SELL_AND_DEPLOY", "1.00"),
        ]
        body, path = await both.answer(ROLES % "MONTH", variables, caller)
        assert path == "compiled", body
        (row,) = body["data"]["node"]["attributedUsage"]
        assert (row["recognitionRole"], row["attribution"]["amount"]) == (None, "2.00")
