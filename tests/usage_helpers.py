"""Builders shared by the usage tests: records, and tenants, subscriptions and partners in the database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from db.engine import Database
from db.models import Partner, Subscription, Tenant
from resolvers.usage.validation import UsageRecordInput
from tests import factories


def record(
    subscription: Subscription | str,
    day: date | str,
    *,
    meter: str = "meter-1",
    service: str = "Compute",
    quantity: str | Decimal = "1",
    amount: str | Decimal = "1.00",
    currency: str = "USD",
) -> UsageRecordInput:
    external = subscription if isinstance(subscription, str) else subscription.external_id
    return UsageRecordInput(
        subscription_id=external,
        usage_date=day,
        service=service,
        meter_id=meter,
        meter_name=f"{meter} name",
        quantity=quantity,
        unit="Hours",
        amount=amount,
        currency=currency,
    )


@dataclass
class World:
    tenants: list[Tenant]
    subscriptions: list[Subscription]
    partners: list[Partner]


async def build_world(database: Database, *, tenants: int, subscriptions: int, partners: int) -> World:
    """`subscriptions` subscriptions spread round-robin over `tenants` tenants, and `partners` partners."""
    owners = [factories.tenant() for _ in range(tenants)]
    linked = [factories.partner() for _ in range(partners)]
    async with database.write() as session:
        await factories.add_flushed(session, *owners, *linked)
        subs = [factories.subscription(owners[index % tenants]) for index in range(subscriptions)]
        await factories.add_flushed(session, *subs)
    return World(owners, subs, linked)
