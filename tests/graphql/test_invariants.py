"""Rules the database itself enforces, whatever code writes to it."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from db import partitions
from db.engine import Database
from db.enums import AssociationEndReason, AssociationType
from db.models import PartnerAssociation, UsageRecord
from tests import factories


async def test_second_active_dpor_for_one_subscription_is_refused(database: Database) -> None:
    owner = factories.tenant()
    first, second = factories.partner(), factories.partner()
    async with database.write() as session:
        await factories.add_flushed(session, owner, first, second)
        sub = factories.subscription(owner)
        await factories.add_flushed(session, sub, factories.association(sub, first))

    with pytest.raises(IntegrityError):
        async with database.write() as session:
            await factories.add_flushed(session, factories.association(sub, second))

    async with database.read() as session:
        active = (await session.scalars(select(PartnerAssociation).where(PartnerAssociation.valid_to.is_(None)))).all()
    assert [row.partner_id for row in active] == [first.id]


async def test_ended_dpor_makes_room_for_the_next(database: Database) -> None:
    owner = factories.tenant()
    first, second = factories.partner(), factories.partner()
    async with database.write() as session:
        await factories.add_flushed(session, owner, first, second)
        sub = factories.subscription(owner)
        old = factories.association(
            sub,
            first,
            valid_to=datetime(2026, 3, 15, 12, tzinfo=UTC),
            ended_by="owner",
            end_reason=AssociationEndReason.REPLACED,
        )
        new = factories.association(sub, second, valid_from=datetime(2026, 3, 15, 12, tzinfo=UTC))
        await factories.add_flushed(session, sub, old, new)
    async with database.read() as session:
        rows = (await session.scalars(select(PartnerAssociation).order_by(PartnerAssociation.valid_from))).all()
    assert [(row.partner_id, row.valid_to) for row in rows] == [
        (first.id, datetime(2026, 3, 15, 12, tzinfo=UTC)),
        (second.id, None),
    ]


async def test_same_partner_twice_in_one_active_role_is_refused(database: Database) -> None:
    owner, linked = factories.tenant(), factories.partner()
    async with database.write() as session:
        await factories.add_flushed(session, owner, linked)
        sub = factories.subscription(owner)
        link = {"type": AssociationType.TRANSACTING_PARTNER}
        await factories.add_flushed(session, sub, factories.association(sub, linked, **link))
    with pytest.raises(IntegrityError):
        async with database.write() as session:
            await factories.add_flushed(session, factories.association(sub, linked, **link))


@pytest.mark.parametrize(
    "bad",
    [
        {
            "valid_to": datetime(2025, 1, 1, tzinfo=UTC),
            "ended_by": "x",
            "end_reason": AssociationEndReason.UNLINKED,
        },
        {"valid_to": datetime(2027, 1, 1, tzinfo=UTC)},  # ended without saying who or why
    ],
)
async def test_association_check_constraints(database: Database, bad: dict[str, object]) -> None:
    owner, linked = factories.tenant(), factories.partner()
    async with database.write() as session:
        await factories.add_flushed(session, owner, linked)
        sub = factories.subscription(owner)
        await factories.add_flushed(session, sub)
    with pytest.raises(IntegrityError):
        async with database.write() as session:
            await factories.add_flushed(session, factories.association(sub, linked, **bad))


async def test_partner_mpn_id_must_be_digits(database: Database) -> None:
    with pytest.raises(IntegrityError):
        async with database.write() as session:
            await factories.add_flushed(session, factories.partner(mpn_id="12a4"))


async def test_usage_amounts_are_exact_and_sum_exactly(database: Database) -> None:
    from sqlalchemy import func

    owner = factories.tenant()
    async with database.write() as session:
        await factories.add_flushed(session, owner)
        sub = factories.subscription(owner)
        await factories.add_flushed(session, sub)
        await partitions.ensure_months(session, [date(2026, 1, 1), date(2026, 2, 1)])  # written directly
        amounts = [Decimal("0.100001"), Decimal("0.200002"), Decimal("1234567.000003")]
        for day, amount in enumerate(amounts, start=1):
            session.add(
                UsageRecord(
                    subscription_id=sub.id,
                    usage_date=datetime(2026, 1, day, tzinfo=UTC).date(),
                    service_name="Compute",
                    meter_id="m1",
                    meter_name="D2 v3",
                    meter_category="Virtual Machines",
                    quantity=Decimal("1.5"),
                    unit="Hours",
                    amount=amount,
                    currency="EUR",
                )
            )
    async with database.read() as session:
        total = await session.scalar(select(func.sum(UsageRecord.amount, type_=UsageRecord.amount.type)))
    assert total == Decimal("1234567.300006")
    assert isinstance(total, Decimal)


async def test_negative_quantity_and_bad_currency_are_refused(database: Database) -> None:
    owner = factories.tenant()
    async with database.write() as session:
        await factories.add_flushed(session, owner)
        sub = factories.subscription(owner)
        await factories.add_flushed(session, sub)
        # Its month exists, so what refuses the rows below is the constraints, not a missing partition.
        await partitions.ensure_months(session, [date(2026, 1, 1)])
    for quantity, currency in [(Decimal("-1"), "EUR"), (Decimal("1"), "eur")]:
        with pytest.raises(IntegrityError):
            async with database.write() as session:
                session.add(
                    UsageRecord(
                        subscription_id=sub.id,
                        usage_date=datetime(2026, 1, 1).date(),
                        service_name="s",
                        meter_id="m",
                        meter_name="m",
                        meter_category="c",
                        quantity=quantity,
                        unit="u",
                        amount=Decimal("1"),
                        currency=currency,
                    )
                )
