"""Builders shared by the usage tests: records, tenants, subscriptions and partners in the database, and the
usage scopes the tests read under (as the callers who read so)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from auth.principal import Principal, Role
from auth.row_filters import UsageVisibility, usage_visibility
from auth.scope import CallerScope
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


@dataclass(frozen=True)
class AllScope:
    """All usage: what a platform administrator reads."""


@dataclass(frozen=True)
class TenantScope:
    """One tenant's usage: what its owner reads."""

    tenant_id: uuid.UUID


@dataclass(frozen=True)
class PartnerScope:
    """What is attributed to one partner, inside its windows: what the partner reads."""

    partner_id: uuid.UUID


Scope = AllScope | TenantScope | PartnerScope
ALL = AllScope()


def reach(scope: Scope) -> UsageVisibility:
    """The usage filter of the caller who reads `scope`, as the policy gives it (auth.row_filters)."""
    role, tenant_id, partner_id = Role.PLATFORM_ADMIN, None, None
    if isinstance(scope, TenantScope):
        role, tenant_id = Role.OWNER, scope.tenant_id
    elif isinstance(scope, PartnerScope):
        role, partner_id = Role.PARTNER, scope.partner_id
    principal = Principal(subject="usage-test", client_id=None, scopes=frozenset(), roles=frozenset({role}))
    found = usage_visibility(CallerScope(principal, frozenset({role}), tenant_id, partner_id))
    assert found is not None
    return found
