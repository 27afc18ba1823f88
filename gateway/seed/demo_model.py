"""The shapes of the demo's story (demo_data.py): tenants, subscriptions, their links, and `At`, an instant
relative to the first day of the usage window.

Apart from the data so that the data module is only data, and so that demo_rows.py can type what it reads.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from db.enums import AssociationEndReason, AssociationType, Offer


@dataclass(frozen=True, slots=True)
class DemoTenant:
    key: str
    external_id: uuid.UUID
    name: str
    domain: str
    country: str
    contacts: tuple[tuple[str, str, str | None], ...]


@dataclass(frozen=True, slots=True)
class At:
    """An instant relative to the first day of the usage window: `day` days after it (negative: before)."""

    day: int
    clock: str = "00:00:00"

    def on(self, first_day: date) -> datetime:
        return datetime.combine(first_day + timedelta(days=self.day), time.fromisoformat(self.clock), tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class DemoLink:
    type: AssociationType
    mpn_id: str
    since: At
    ended: tuple[At, AssociationEndReason] | None = None


@dataclass(frozen=True, slots=True)
class DemoSubscription:
    external_id: str
    tenant: str
    offer: Offer
    name: str
    # (partner MPN id, since): each stint ends when the next begins.
    dpor: tuple[tuple[str, At], ...] = ()
    removed: At | None = None
    links: tuple[DemoLink, ...] = ()
    meters: int = 3
    tier: int = 1
