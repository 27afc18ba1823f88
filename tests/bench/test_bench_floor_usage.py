"""The usage floors (bench.floor_usage) and op (1)'s floor (bench.floor.attributed_data, whose nested usage is a
usage aggregate) answer what the gateway answers, and bench.capture sees when their statements are no longer the
gateway's.

The floor keeps its own copies of the window split and the seconds count so that it shares no code with what
it measures; these tests hold the copies to the gateway's. The end-to-end comparison runs on PostgreSQL only
(the floor is asyncpg): a small synthetic dataset, every sampled tenant and partner, floor data == gateway data.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from typing import Any

import asyncpg
import pytest

from auth.principal import Role
from bench import capture, dataset, floor, floor_usage, operations
from db.engine import Database
from gateway.seed.catalog import COUNTRY_CURRENCY
from gateway.seed.synthetic import SyntheticSpec, load_synthetic
from resolvers.usage.attribution import DAY_SECONDS, seconds_active
from resolvers.usage.currencies import minor_units, present
from resolvers.usage.month_span import month_span
from tests import databases
from tests.api import Api, principal


def test_month_span_splits_the_window_as_the_gateway_does() -> None:
    rng = random.Random(7)
    for _ in range(4_000):
        first = date(2025, 1, 1) + timedelta(days=rng.randrange(700))
        last = first + timedelta(days=rng.randrange(800 if rng.random() < 0.5 else 62))
        gateway, floor_span = month_span(first, last), floor_usage.month_span(first, last)
        if gateway is None:
            assert floor_span is None, (first, last)
            continue
        assert floor_span is not None, (first, last)
        expected = (gateway.first_month, gateway.last_month, gateway.outside, gateway.edges, gateway.inside)
        got = (floor_span.first_month, floor_span.last_month, floor_span.outside, floor_span.edges, floor_span.inside)
        assert got == expected, (first, last)


def test_seconds_active_counts_as_the_gateway_does() -> None:
    rng = random.Random(8)
    midnight = datetime(2026, 3, 1, tzinfo=UTC)
    for _ in range(2_000):
        day = date(2026, 3, 1) + timedelta(days=rng.randrange(4))
        valid_from = midnight + timedelta(seconds=rng.randrange(5 * 86_400))
        valid_to = None if rng.random() < 0.3 else valid_from + timedelta(seconds=rng.randrange(1, 3 * 86_400))
        expected = seconds_active(day, valid_from, valid_to)
        assert floor_usage.seconds_active(day, valid_from, valid_to) == expected, (day, valid_from, valid_to)


def test_attributed_amounts_round_as_the_gateway_does() -> None:
    assert {code: minor_units(code) for code in set(COUNTRY_CURRENCY.values())} == floor_usage.MINOR_UNITS
    rng = random.Random(9)
    for _ in range(2_000):
        # micro-units x seconds, as both sides hold an attributed sum; halves of a minor unit included
        units = rng.choice([rng.randrange(10**12), 5_000 * DAY_SECONDS * rng.randrange(1, 999), 0])
        for currency in floor_usage.MINOR_UNITS:
            expected = f"{present(Fraction(units, 1_000_000 * DAY_SECONDS), currency):f}"
            assert floor_usage.present(units, currency) == expected, (units, currency)


def test_id_list_templates_expand_as_sqlalchemy_numbers_them() -> None:
    assert floor_usage.expand("a IN ({ids:3:0}) AND b IN ({ids:3:1})", 2) == (
        "a IN ($3::UUID, $4::UUID) AND b IN ($5::UUID, $6::UUID)"
    )


# What a DPOR_DB_ECHO=true log looks like: statements over several lines, parameter lines, transaction lines.
_LOG = """INFO:     Started server process [1]
2026-11-30 13:55:02,072 INFO sqlalchemy.engine.Engine BEGIN (implicit; DBAPI should not BEGIN due to autocommit mode)
2026-11-30 13:55:02,096 INFO sqlalchemy.engine.Engine {monthly}
2026-11-30 13:55:02,096 INFO sqlalchemy.engine.Engine [generated in 0.00022s] (datetime.date(2025, 12, 1),)
2026-11-30 13:55:02,102 INFO sqlalchemy.engine.Engine {daily}
2026-11-30 13:55:02,102 INFO sqlalchemy.engine.Engine [cached since 1.2s ago] ('month',)
2026-11-30 13:55:02,104 INFO sqlalchemy.engine.Engine ROLLBACK using DBAPI connection.rollback()
INFO:     Shutting down
"""


# A window whose last month is read day by day (mostly outside it): the statements these log lines hold.
_LAST_MONTH_DAILY = (date(2025, 1, 1), date(2025, 12, 10))


def test_capture_finds_the_floor_statements_in_the_gateway_log() -> None:
    log = _LOG.format(monthly=floor_usage.TENANT_MONTHLY.strip(), daily=floor_usage.TENANT_DAILY.strip())
    assert capture.statements(log) == [
        capture.normalize(floor_usage.TENANT_MONTHLY),
        capture.normalize(floor_usage.TENANT_DAILY),
    ]
    assert capture.stale(log, ["tenant_usage"], _LAST_MONTH_DAILY) == {}


def test_capture_names_a_floor_statement_the_gateway_no_longer_sends() -> None:
    daily = capture.normalize(floor_usage.TENANT_DAILY)
    changed = daily.replace("BETWEEN $2::DATE AND $3::DATE", ">= $2::DATE AND <= $3::DATE")
    assert changed != daily
    log = _LOG.format(monthly=floor_usage.TENANT_MONTHLY.strip(), daily=changed.strip())
    assert capture.stale(log, ["tenant_usage", "partner_usage"], _LAST_MONTH_DAILY) == {
        "tenant_usage": ["TENANT_DAILY"],
        "partner_usage": ["PARTNER_MONTHLY", "PARTNER_WHOLE_DAYS", "PARTNER_BOUNDARY_DAYS"],
    }


class TestFloorAnswersAsTheGateway:
    # Collected only when a PostgreSQL server is configured; never a SQLite case, never a skip.
    __test__ = "postgresql" in databases.backends()
    pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

    async def test_usage_reads(self, api: Api, database: Database) -> None:
        # 400 days, as the benchmark's datasets: associations start and end inside the 12-month window, so
        # partial days, whole months and leftover days all occur.
        yesterday = datetime.now(UTC).date() - timedelta(days=1)
        spec = SyntheticSpec(tenants=4, subscriptions_per_tenant=3, partners=3, days=400, end_date=yesterday)
        await load_synthetic(database, spec)
        url = database.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        sample = await dataset.sample(url, random.Random(1))
        first_day, last_day = operations.twelve_months()
        # Today's window and windows ending a month back whose last month is read whole, less its days outside
        # the window, and day by day (month_span): every shape of the usage SQL, whatever the day.
        month = (date.fromisoformat(last_day).replace(day=1) - timedelta(days=1)).replace(day=1)
        ends = [(month + timedelta(days=32)).replace(day=1) - timedelta(days=1), month + timedelta(days=19), month]
        windows = [(first_day, last_day), *((first_day, end.isoformat()) for end in ends)]
        connection = await asyncpg.connect(url)
        try:
            compared = 0
            for subscription in sample.subscriptions:
                owner = principal(Role.OWNER, tenant=subscription.tenant_external_id)
                for start, end in windows:
                    variables: dict[str, Any] = {"id": subscription.tenant_global_id, "from": start, "to": end}
                    gateway = await api.data(operations.TENANT_USAGE, variables, as_=owner)
                    body = {**variables, "tenantExternalId": str(subscription.tenant_external_id)}
                    assert await floor_usage.tenant_usage(connection, body) == gateway, variables
                    compared += bool(gateway["tenant"]["usage"]) and end == last_day
            for partner in sample.partners:
                caller = principal(Role.PARTNER, partner=partner.mpn_id)
                for start, end in windows:
                    variables = {"id": partner.global_id, "from": start, "to": end}
                    gateway = await api.data(operations.PARTNER_ATTRIBUTED_USAGE, variables, as_=caller)
                    body = {**variables, "partnerMpnId": partner.mpn_id}
                    assert await floor_usage.partner_usage(connection, body) == gateway, variables
                    compared += bool(gateway["node"]["attributedUsage"]) and end == last_day
        finally:
            await connection.close()
        assert compared == len(sample.subscriptions) + len(sample.partners)

    async def test_attributed_subscriptions(self, api: Api, database: Database) -> None:
        # Op (1) with its nested current-month usage, in every window shape whatever today is.
        yesterday = datetime.now(UTC).date() - timedelta(days=1)
        spec = SyntheticSpec(tenants=4, subscriptions_per_tenant=3, partners=3, days=400, end_date=yesterday)
        await load_synthetic(database, spec)
        url = database.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        sample = await dataset.sample(url, random.Random(1))
        month_start, today = (date.fromisoformat(day) for day in operations.current_month())
        # The previous month: whole, to its 20th (the rest subtracted from its monthly row), its first day alone.
        previous = (month_start - timedelta(days=1)).replace(day=1)
        ends = [month_start - timedelta(days=1), previous + timedelta(days=19), previous]
        windows = [(month_start, today), *((previous, end) for end in ends)]
        connection = await asyncpg.connect(url)
        amounts = 0
        try:
            for partner in sample.partners:
                caller = principal(Role.PARTNER, partner=partner.mpn_id)
                for first_day, last_day in windows:
                    for first in (1, operations.ATTRIBUTED_PAGE):
                        variables: dict[str, Any] = {
                            "first": first,
                            "monthStart": first_day.isoformat(),
                            "today": last_day.isoformat(),
                        }
                        gateway = await api.data(operations.ATTRIBUTED_SUBSCRIPTIONS, variables, as_=caller)
                        body = {**variables, "partnerMpnId": partner.mpn_id}
                        assert await floor.attributed_data(connection, body) == gateway, (partner, variables)
                        edges = gateway["attributedSubscriptions"]["edges"]
                        amounts += sum(len(edge["node"]["usage"]) for edge in edges)
        finally:
            await connection.close()
        assert amounts > 0
