"""What a usage aggregate is asked and what it answers: the groupings, the filter and the rows (see aggregates.py).

Partner rows (a partner-scoped query) carry an `Attribution`:
- quantity, amount and record_count of a partner row: the usage of the subscription-days on which the
  partner's association was in effect for at least one second (its share of them is in `attribution`);
- attribution.amount / .quantity: the exact attributed sums (fractions); attribution.amount_presented: the
  amount rounded to the currency's minor unit, half to even;
- attribution.partial_days, the basis: every (subscription, day) of the row attributed with a fraction below
  one (or reached only by two intervals touching that day), with the seconds attributed and that day's
  quantity and amount within the row. Every other day of the row is attributed whole, so attributed amount =
  amount - sum(partial.amount) + sum(partial.amount * partial.seconds / 86,400).
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction

from db.enums import AssociationType, RecognitionRole
from resolvers.usage.attribution import DAY_SECONDS


class GroupBy(enum.Enum):
    MONTH = "MONTH"
    DAY = "DAY"
    SERVICE = "SERVICE"
    SUBSCRIPTION = "SUBSCRIPTION"
    TENANT = "TENANT"
    PARTNER = "PARTNER"
    # The associations' recognition role (null where none was named): partner-scoped, as PARTNER is.
    RECOGNITION_ROLE = "RECOGNITION_ROLE"


@dataclass(frozen=True, slots=True)
class AggregateFilter:
    date_from: date
    date_to: date  # inclusive
    tenant_id: uuid.UUID | None = None
    subscription_id: uuid.UUID | None = None
    partner_id: uuid.UUID | None = None
    association_type: AssociationType | None = None
    service: str | None = None
    # Several parents in one query; each set adds its parent's grouping (see parent_groups).
    subscription_ids: frozenset[uuid.UUID] | None = None
    tenant_ids: frozenset[uuid.UUID] | None = None
    partner_ids: frozenset[uuid.UUID] | None = None


def parent_groups(filter: AggregateFilter) -> frozenset[GroupBy]:
    """The groupings that keep the rows of a set of parents apart (partner rows always carry their partner)."""
    groups = set()
    if filter.subscription_ids is not None:
        groups.add(GroupBy.SUBSCRIPTION)
    if filter.tenant_ids is not None:
        groups.add(GroupBy.TENANT)
    if filter.partner_ids is not None:
        groups.add(GroupBy.PARTNER)
    return frozenset(groups)


@dataclass(frozen=True, slots=True)
class PartialDay:
    subscription_id: uuid.UUID
    day: date
    seconds: int
    quantity: Decimal
    amount: Decimal

    @property
    def fraction(self) -> Fraction:
        return Fraction(self.seconds, DAY_SECONDS)


@dataclass(frozen=True, slots=True)
class Attribution:
    quantity: Fraction
    amount: Fraction
    amount_presented: Decimal
    partial_days: tuple[PartialDay, ...]


@dataclass(frozen=True, slots=True)
class AggregateRow:
    currency: str
    quantity: Decimal
    amount: Decimal
    record_count: int
    month: date | None = None
    day: date | None = None
    service: str | None = None
    subscription_id: uuid.UUID | None = None
    tenant_id: uuid.UUID | None = None
    partner_id: uuid.UUID | None = None
    association_type: AssociationType | None = None
    recognition_role: RecognitionRole | None = None  # RECOGNITION_ROLE grouping only
    attribution: Attribution | None = None
