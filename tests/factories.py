"""Small builders for rows the tests need, with valid defaults and every field overridable."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db.change_event import ChangeEventSequencer
from db.enums import AssociationType, Offer
from db.models import Partner, PartnerAssociation, Subscription, Tenant

_sequence = itertools.count(1)


def tenant(**overrides: Any) -> Tenant:
    n = next(_sequence)
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "external_id": uuid.uuid4(),
        "display_name": f"Tenant {n}",
        "primary_domain": f"tenant{n}.example.com",
        "country_code": "US",
    }
    return Tenant(**(values | overrides))


def partner(**overrides: Any) -> Partner:
    n = next(_sequence)
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "mpn_id": str(1_000_000 + n),
        "name": f"Partner {n}",
        "country_code": "GB",
    }
    return Partner(**(values | overrides))


def subscription(owner: Tenant, **overrides: Any) -> Subscription:
    n = next(_sequence)
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "external_id": str(uuid.uuid4()),
        "tenant_id": owner.id,
        "offer": Offer.AZURE,
        "display_name": f"Subscription {n}",
    }
    return Subscription(**(values | overrides))


def association(sub: Subscription, by: Partner, **overrides: Any) -> PartnerAssociation:
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "subscription_id": sub.id,
        "partner_id": by.id,
        "type": AssociationType.DIGITAL_PARTNER_OF_RECORD,
        "valid_from": datetime(2026, 1, 1, tzinfo=UTC),
        "created_by": "test-subject",
    }
    return PartnerAssociation(**(values | overrides))


async def add_flushed(session: AsyncSession, *rows: object) -> None:
    session.add_all(rows)
    await session.flush()


async def sequence_after(session: AsyncSession, last: int) -> None:
    """The sequencer's next event is numbered `last` + 1, as after that many published events."""
    row = await session.get(ChangeEventSequencer, 1)
    if row is None:
        session.add(ChangeEventSequencer(id=1, last_sequence=last))
    else:
        row.last_sequence = last
