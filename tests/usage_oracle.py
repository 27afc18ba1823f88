"""The naive reference for usage aggregates: every number recomputed from raw records, day by day, in Python.

It shares nothing with the implementation but the input and output dataclasses and the presentation rounding
(tested on its own); its scopes are the tests' own (tests/usage_helpers.py). No rollups, no interval shortcuts:
for each record and each association of its subscription it counts the seconds of the record's day the
association was in effect.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from db.enums import AssociationStatus, AssociationType, RecognitionRole
from resolvers.usage.aggregate_types import AggregateFilter, AggregateRow, Attribution, GroupBy, PartialDay
from resolvers.usage.currencies import present
from tests.usage_helpers import PartnerScope, Scope, TenantScope


@dataclass(frozen=True)
class RawRecord:
    subscription_id: uuid.UUID
    day: date
    meter: str
    service: str
    quantity: Decimal
    amount: Decimal
    currency: str


@dataclass(frozen=True)
class RawAssociation:
    subscription_id: uuid.UUID
    partner_id: uuid.UUID
    type: AssociationType
    valid_from: datetime
    valid_to: datetime | None
    recognition_role: RecognitionRole | None = None
    # Only ACTIVE associations are attributed: a PENDING claim not yet, a DECLINED one never.
    status: AssociationStatus = AssociationStatus.ACTIVE


@dataclass
class _Basis:
    seconds: int
    quantity: Decimal = Decimal(0)
    amount: Decimal = Decimal(0)


_Key = tuple[
    date | None,
    date | None,
    str | None,
    uuid.UUID | None,
    uuid.UUID | None,
    uuid.UUID | None,
    AssociationType | None,
    RecognitionRole | None,
    str,
]


@dataclass
class _Totals:
    quantity: Decimal = Decimal(0)
    amount: Decimal = Decimal(0)
    count: int = 0
    attributed_quantity: Fraction = Fraction(0)
    attributed_amount: Fraction = Fraction(0)
    partial: dict[tuple[uuid.UUID, date], _Basis] = field(default_factory=dict)


def _overlap_seconds(day: date, association: RawAssociation) -> int:
    day_begins = datetime(day.year, day.month, day.day, tzinfo=UTC)
    day_ends = day_begins + timedelta(days=1)
    ends = association.valid_to or day_ends
    return max(0, int((min(day_ends, ends) - max(day_begins, association.valid_from)).total_seconds()))


def expected_rows(
    records: list[RawRecord],
    associations: list[RawAssociation],
    tenant_of: dict[uuid.UUID, uuid.UUID],
    query: AggregateFilter,
    group_by: set[GroupBy],
    scope: Scope,
) -> list[AggregateRow]:
    tenant_id, partner_id = query.tenant_id, query.partner_id
    if isinstance(scope, TenantScope):
        if tenant_id not in (None, scope.tenant_id):
            return []
        tenant_id = scope.tenant_id
    if isinstance(scope, PartnerScope):
        if partner_id not in (None, scope.partner_id):
            return []
        partner_id = scope.partner_id
    by_role = GroupBy.RECOGNITION_ROLE in group_by
    partner_scoped = (
        isinstance(scope, PartnerScope)
        or GroupBy.PARTNER in group_by
        or by_role
        or partner_id is not None
        or query.association_type is not None
    )
    # The associations that may attribute anything here, by subscription (only so the loop below is not
    # records x associations: the oracle runs once per parent of every batch).
    candidates: dict[uuid.UUID, list[RawAssociation]] = {}
    for association in associations:
        if association.status is not AssociationStatus.ACTIVE:
            continue
        if partner_id not in (None, association.partner_id):
            continue
        if query.association_type not in (None, association.type):
            continue
        candidates.setdefault(association.subscription_id, []).append(association)
    totals: dict[_Key, _Totals] = {}
    for record in records:
        if not query.date_from <= record.day <= query.date_to:
            continue
        if query.subscription_id not in (None, record.subscription_id):
            continue
        if tenant_id not in (None, tenant_of[record.subscription_id]):
            continue
        if query.service not in (None, record.service):
            continue
        base = (
            record.day.replace(day=1) if GroupBy.MONTH in group_by else None,
            record.day if GroupBy.DAY in group_by else None,
            record.service if GroupBy.SERVICE in group_by else None,
            record.subscription_id if GroupBy.SUBSCRIPTION in group_by else None,
            tenant_of[record.subscription_id] if GroupBy.TENANT in group_by else None,
        )
        if not partner_scoped:
            _add(totals.setdefault((*base, None, None, None, record.currency), _Totals()), record, None, True)
            continue
        held: dict[tuple[uuid.UUID, AssociationType, RecognitionRole | None], list[RawAssociation]] = {}
        for association in candidates.get(record.subscription_id, []):
            role = association.recognition_role if by_role else None
            held.setdefault((association.partner_id, association.type, role), []).append(association)
        for (partner, kind, role), intervals in held.items():
            seconds = sum(_overlap_seconds(record.day, interval) for interval in intervals)
            if seconds == 0:
                continue
            whole = any(_overlap_seconds(record.day, interval) == 86_400 for interval in intervals)
            target = totals.setdefault((*base, partner, kind, role, record.currency), _Totals())
            _add(target, record, seconds, whole)
    return [_row(key, value, partner_scoped) for key, value in totals.items()]


def _add(target: _Totals, record: RawRecord, seconds: int | None, whole: bool) -> None:
    target.quantity += record.quantity
    target.amount += record.amount
    target.count += 1
    if seconds is None:
        return
    target.attributed_quantity += Fraction(record.quantity) * Fraction(seconds, 86_400)
    target.attributed_amount += Fraction(record.amount) * Fraction(seconds, 86_400)
    if not whole:
        basis = target.partial.setdefault((record.subscription_id, record.day), _Basis(seconds))
        basis.quantity += record.quantity
        basis.amount += record.amount


def _row(key: _Key, totals: _Totals, partner_scoped: bool) -> AggregateRow:
    month, day, service, subscription_id, tenant_id, partner_id, kind, role, currency = key
    attribution = None
    if partner_scoped:
        attribution = Attribution(
            quantity=totals.attributed_quantity,
            amount=totals.attributed_amount,
            amount_presented=present(totals.attributed_amount, currency),
            partial_days=tuple(
                PartialDay(sub, on, basis.seconds, basis.quantity, basis.amount)
                for (sub, on), basis in sorted(totals.partial.items())
            ),
        )
    return AggregateRow(
        currency=currency,
        quantity=totals.quantity,
        amount=totals.amount,
        record_count=totals.count,
        month=month,
        day=day,
        service=service,
        subscription_id=subscription_id,
        tenant_id=tenant_id,
        partner_id=partner_id,
        association_type=kind,
        recognition_role=role,
        attribution=attribution,
    )


def canonical(rows: list[AggregateRow]) -> list[AggregateRow]:
    """Rows in an order of the test's own choosing: the comparison does not rely on the implementation's."""
    return sorted(rows, key=repr)
