"""The attribution rule on the worked example of the README, and its interval arithmetic."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest

from db.engine import Database
from db.enums import AssociationEndReason
from db.models import Partner, Subscription
from resolvers.usage.aggregate_types import AggregateFilter, GroupBy, PartialDay
from resolvers.usage.aggregates import usage_aggregates
from resolvers.usage.attribution import seconds_active
from resolvers.usage.currencies import present
from resolvers.usage.ingestion import ingest_usage
from tests import factories
from tests.usage_helpers import ALL, PartnerScope, TenantScope, build_world, reach, record

REPLACED_AT = datetime(2026, 3, 15, 12, tzinfo=UTC)
MARCH = AggregateFilter(date_from=date(2026, 3, 1), date_to=date(2026, 3, 31))


async def _march(database: Database) -> tuple[Subscription, Partner, Partner]:
    """DPOR `old` until 15 March 12:00 UTC, then `new`. 3.00 USD a day, but 0.25 on the 15th (0.125 each)."""
    world = await build_world(database, tenants=1, subscriptions=1, partners=2)
    (sub,), (old, new) = world.subscriptions, world.partners
    async with database.write() as session:
        await factories.add_flushed(
            session,
            factories.association(
                sub,
                old,
                valid_from=datetime(2026, 1, 1, tzinfo=UTC),
                valid_to=REPLACED_AT,
                ended_by="owner",
                end_reason=AssociationEndReason.REPLACED,
            ),
            factories.association(sub, new, valid_from=REPLACED_AT),
        )
        days = [date(2026, 3, 1) + timedelta(days=offset) for offset in range(31)]
        amounts = {day: "0.25" if day.day == 15 else "3.00" for day in days}
        await ingest_usage(session, [record(sub, day, amount=amounts[day]) for day in days])
    return sub, old, new


async def test_replaced_dpor_shares_the_day_of_replacement_half_and_half(database: Database) -> None:
    sub, old, new = await _march(database)
    async with database.read() as session:
        rows = await usage_aggregates(session, MARCH, [GroupBy.PARTNER], reach(ALL))
    by_partner = {row.partner_id: row for row in rows}
    assert set(by_partner) == {old.id, new.id}
    old_row, new_row = by_partner[old.id], by_partner[new.id]
    assert old_row.attribution is not None and new_row.attribution is not None
    # Exact: 14 whole days and half of the 15th for the old partner, half of the 15th and 16 days for the new.
    assert old_row.attribution.amount == Fraction("42.125")
    assert new_row.attribution.amount == Fraction("48.125")
    # Rounded only for presentation, half to even: 42.125 -> 42.12, 48.125 -> 48.12.
    assert old_row.attribution.amount_presented == Decimal("42.12")
    assert new_row.attribution.amount_presented == Decimal("48.12")
    # The usage behind each row: the days the partner held the association at all (the 15th counts for both).
    assert (old_row.amount, old_row.record_count) == (Decimal("42.25"), 15)
    assert (new_row.amount, new_row.record_count) == (Decimal("48.25"), 17)
    half = PartialDay(sub.id, date(2026, 3, 15), 43_200, Decimal(1), Decimal("0.25"))
    assert old_row.attribution.partial_days == (half,)
    assert new_row.attribution.partial_days == (half,)
    assert half.fraction == Fraction(1, 2)


async def test_each_day_of_march_goes_to_the_partner_of_record_of_that_day(database: Database) -> None:
    _sub, old, new = await _march(database)
    async with database.read() as session:
        rows = await usage_aggregates(session, MARCH, [GroupBy.DAY], reach(PartnerScope(new.id)))
    assert [row.day for row in rows] == [date(2026, 3, day) for day in range(15, 32)]
    fifteenth = rows[0]
    assert fifteenth.attribution is not None
    assert fifteenth.attribution.amount == Fraction(1, 8)
    assert fifteenth.attribution.amount_presented == Decimal("0.12")
    assert all(row.attribution and row.attribution.amount == 3 for row in rows[1:])
    assert {row.partner_id for row in rows} == {new.id}
    async with database.read() as session:
        old_days = await usage_aggregates(session, MARCH, [GroupBy.DAY], reach(PartnerScope(old.id)))
    assert [row.day for row in old_days] == [date(2026, 3, day) for day in range(1, 16)]


async def test_scopes_see_only_their_own_rows(database: Database) -> None:
    sub, old, _new = await _march(database)
    async with database.read() as session:
        tenant_rows = await usage_aggregates(session, MARCH, [], reach(TenantScope(sub.tenant_id)))
        other_tenant = await usage_aggregates(session, MARCH, [], reach(TenantScope(factories.tenant().id)))
        other_partner = await usage_aggregates(
            session,
            AggregateFilter(MARCH.date_from, MARCH.date_to, partner_id=old.id),
            [],
            reach(PartnerScope(sub.id)),
        )
    assert [(row.amount, row.record_count, row.attribution) for row in tenant_rows] == [(Decimal("90.25"), 31, None)]
    assert other_tenant == []
    assert other_partner == []


@pytest.mark.parametrize(
    ("value", "currency", "shown"),
    [
        (Fraction("0.125"), "USD", Decimal("0.12")),
        (Fraction("0.135"), "USD", Decimal("0.14")),
        (Fraction("2.5"), "JPY", Decimal("2")),
        (Fraction("3.5"), "JPY", Decimal("4")),
        (Fraction("0.0005"), "BHD", Decimal("0.000")),
        (Fraction(1, 3), "USD", Decimal("0.33")),
        (Fraction("-0.125"), "USD", Decimal("-0.12")),
    ],
)
def test_presentation_rounds_half_even_to_the_minor_unit(value: Fraction, currency: str, shown: Decimal) -> None:
    assert present(value, currency) == shown
    assert str(present(value, currency)) == str(shown)


def test_seconds_active_counts_the_part_of_the_utc_day_inside_the_interval() -> None:
    start, end = datetime(2026, 3, 1, 6, tzinfo=UTC), datetime(2026, 3, 4, tzinfo=UTC)
    assert seconds_active(date(2026, 3, 1), start, end) == 64_800
    assert seconds_active(date(2026, 3, 3), start, end) == 86_400
    assert seconds_active(date(2026, 3, 4), start, end) == 0  # ends at the midnight that starts the 4th
    assert seconds_active(date(2026, 2, 28), start, None) == 0
    assert seconds_active(date(2027, 1, 1), start, None) == 86_400
    assert seconds_active(date(2026, 3, 1), start, datetime(2026, 3, 1, 8, tzinfo=UTC)) == 7_200
