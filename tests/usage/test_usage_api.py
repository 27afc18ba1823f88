"""Usage through the API: ingestion, the worked March example, and partners seeing usage only inside their windows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from auth.principal import Role
from db.engine import Database
from db.enums import AssociationEndReason
from schema import global_id
from tests import factories
from tests.api import Api, error_codes, principal

INGEST = "mutation($i: IngestUsageInput!) { ingestUsage(input: $i) { inserted replaced freshness { usageDataAsOf } } }"
INGESTER = principal(Role.USAGE_INGEST, subject="meter-pipeline")
REPLACED_AT = datetime(2026, 3, 15, 12, tzinfo=UTC)


def record(subscription: Any, day: date, amount: str = "10.00", meter: str = "vm-d2") -> dict[str, str]:
    return {
        "subscriptionId": subscription.external_id,
        "usageDate": day.isoformat(),
        "service": "Virtual Machines",
        "meterId": meter,
        "meterName": "D2 v3",
        "quantity": "24",
        "unit": "Hours",
        "amount": amount,
        "currency": "USD",
    }


async def _march(database: Database) -> dict[str, Any]:
    """A subscription whose DPOR moved from `old` to `new` on 15 March 12:00 UTC."""
    tenant, old, new, outsider = factories.tenant(), factories.partner(), factories.partner(), factories.partner()
    async with database.write() as session:
        await factories.add_flushed(session, tenant, old, new, outsider)
        sub = factories.subscription(tenant)
        await factories.add_flushed(session, sub)
        session.add_all(
            [
                factories.association(
                    sub,
                    old,
                    valid_from=datetime(2026, 1, 1, tzinfo=UTC),
                    valid_to=REPLACED_AT,
                    ended_by="owner",
                    end_reason=AssociationEndReason.REPLACED,
                ),
                factories.association(sub, new, valid_from=REPLACED_AT),
            ]
        )
    return {"tenant": tenant, "old": old, "new": new, "outsider": outsider, "sub": sub}


async def _ingest_year(api: Api, sub: Any) -> None:
    days = [date(2025, 12, 1) + timedelta(days=n) for n in range(150)]  # December to April
    result = await api.data(INGEST, {"i": {"records": [record(sub, day) for day in days]}}, as_=INGESTER)
    assert result["ingestUsage"]["inserted"] == 150


async def test_worked_march_example_through_the_api(api: Api, database: Database) -> None:
    world = await _march(database)
    await _ingest_year(api, world["sub"])
    query = """query($p: ID!) { partner(id: $p) { attributedUsage(from: "2026-03-01", to: "2026-03-31",
        groupBy: [MONTH]) { month amount currency
          attribution { amount amountExact partialDays { day seconds } } } } }"""
    admin = principal(Role.PLATFORM_ADMIN)
    shares = {}
    for name in ("old", "new"):
        [row] = (await api.data(query, {"p": global_id.encode("Partner", world[name].id)}, as_=admin))["partner"][
            "attributedUsage"
        ]
        assert row["attribution"]["partialDays"] == [{"day": "2026-03-15", "seconds": 43_200}]
        shares[name] = Decimal(row["attribution"]["amount"])
    # Old: 1-14 March whole and half of the 15th; new: half of the 15th and 16-31 March whole.
    assert shares == {"old": Decimal("145.00"), "new": Decimal("165.00")}
    assert sum(shares.values()) == Decimal("310.00")  # 31 days x 10.00, nothing lost or double counted


async def test_ingest_is_all_or_nothing_and_lists_every_bad_record(api: Api, database: Database) -> None:
    world = await _march(database)
    good = record(world["sub"], date(2026, 3, 1))
    bad_quantity = record(world["sub"], date(2026, 3, 2)) | {"quantity": "-1"}
    bad_currency = record(world["sub"], date(2026, 3, 3)) | {"currency": "usd"}
    unknown = record(world["sub"], date(2026, 3, 4)) | {"subscriptionId": "no-such-subscription"}
    body = await api.execute(INGEST, {"i": {"records": [good, bad_quantity, bad_currency, unknown]}}, as_=INGESTER)
    assert error_codes(body) == ["BAD_USER_INPUT"]
    problems = {(p["index"], p["field"]) for p in body["errors"][0]["extensions"]["problems"]}
    assert problems == {(1, "quantity"), (2, "currency"), (3, "subscriptionId")}
    usage = await api.data(
        'query($s: ID!) { subscription(id: $s) { usageDataAsOf usage(from: "2026-03-01", to: "2026-03-31",'
        " groupBy: []) { recordCount } } }",
        {"s": global_id.encode("Subscription", world["sub"].id)},
        as_=principal(Role.PLATFORM_ADMIN),
    )
    assert usage["subscription"] == {"usageDataAsOf": None, "usage": []}


async def test_resending_a_day_replaces_it(api: Api, database: Database) -> None:
    world = await _march(database)
    first = await api.data(INGEST, {"i": {"records": [record(world["sub"], date(2026, 3, 1), "10.00")]}}, as_=INGESTER)
    again = await api.data(INGEST, {"i": {"records": [record(world["sub"], date(2026, 3, 1), "12.50")]}}, as_=INGESTER)
    assert (first["ingestUsage"]["inserted"], again["ingestUsage"]["replaced"]) == (1, 1)
    owner = principal(Role.OWNER, tenant=world["tenant"].external_id)
    totals = await api.data(
        '{ usageAggregates(filter: {from: "2026-03-01", to: "2026-03-31"}, groupBy: []) { amount recordCount } }',
        as_=owner,
    )
    assert totals["usageAggregates"] == [{"amount": "12.500000", "recordCount": 1}]


PARTNER_SHAPES = {
    "usageAggregates by day": """{ usageAggregates(filter: {from: "2025-12-01", to: "2026-04-29"},
        groupBy: [DAY]) { day amount } }""",
    "attributedSubscriptions -> node -> usage": """{ attributedSubscriptions(first: 5) { edges { node {
        usage(from: "2025-12-01", to: "2026-04-29", groupBy: [DAY]) { day amount } } } } }""",
    "subscription -> tenant -> usage": """{ subscriptions(first: 5) { edges { node { tenant {
        usage(from: "2025-12-01", to: "2026-04-29", groupBy: [DAY]) { day amount } } } } } }""",
    "viewer -> partner -> attributedUsage": """{ viewer { partner {
        attributedUsage(from: "2025-12-01", to: "2026-04-29", groupBy: [DAY]) { day amount } } } }""",
}


def _days(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [value["day"]] if isinstance(value.get("day"), str) else []
        return found + [day for key, item in value.items() if key != "day" for day in _days(item)]
    if isinstance(value, list):
        return [day for item in value for day in _days(item)]
    return []


@pytest.mark.parametrize("shape", PARTNER_SHAPES)
async def test_a_partner_never_sees_usage_outside_its_windows(api: Api, database: Database, shape: str) -> None:
    world = await _march(database)
    await _ingest_year(api, world["sub"])
    # The old DPOR's window is 1 January to 15 March 12:00; usage exists from December to April.
    body = await api.execute(PARTNER_SHAPES[shape], as_=principal(Role.PARTNER, partner=world["old"].mpn_id))
    assert "INTERNAL" not in error_codes(body)
    days = sorted(set(_days(body.get("data"))))
    assert days, body
    assert days[0] == "2026-01-01" and days[-1] == "2026-03-15", (days[0], days[-1])

    outsider = await api.execute(PARTNER_SHAPES[shape], as_=principal(Role.PARTNER, partner=world["outsider"].mpn_id))
    assert _days(outsider.get("data")) == []
