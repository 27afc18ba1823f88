"""Adding up the rows a usage read's statements return, into the aggregate rows it answers.

Attributed sums are kept as integers: micro-units (the rollups' 6 decimal places) times seconds, so adding
thousands of shares costs integer additions; one Fraction is made per row at the end.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any

from sqlalchemy.engine import Result

from db.enums import AssociationType, RecognitionRole
from resolvers.usage.aggregate_types import AggregateRow, Attribution, GroupBy, PartialDay
from resolvers.usage.attribution import DAY_SECONDS, seconds_active
from resolvers.usage.currencies import present

_MICRO = 1_000_000
UNITS_PER_WHOLE = _MICRO * DAY_SECONDS  # micro-units x seconds of one unit attributed for a whole day

# The grouping key of a row, in AggregateRow's field order after the sums.
Key = tuple[
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


@dataclass(slots=True)
class Sums:
    quantity: Decimal = Decimal(0)
    amount: Decimal = Decimal(0)
    record_count: int = 0
    attributed_quantity_units: int = 0  # micro-units x seconds
    attributed_amount_units: int = 0
    partial: dict[tuple[uuid.UUID, date], list[Any]] = field(default_factory=dict)


Totals = dict[Key, Sums]

# The labels of the grouping key in a summing SELECT, in Key's order; a statement selects only those it groups by.
KEY_LABELS = (
    "month",
    "day",
    "service",
    "subscription_id",
    "tenant_id",
    "partner_id",
    "association_type",
    "recognition_role",
)
_SUMS_LABELS = ("currency", "quantity", "amount", "record_count")


def micro(value: Decimal) -> int:
    """A rollup value (at most 6 decimal places, as stored) in millionths, exactly."""
    units = value.scaleb(6)
    if units != units.to_integral_value():
        raise ValueError(f"{value} has more than 6 decimal places")
    return int(units)


def add_sums(result: Result[Any], totals: Totals, *, attributed: bool) -> None:
    """Add the rows of a summing statement (statements._summing): attributed, each counts for whole days."""
    # Positions looked up once per result: asking each row for a label it lacks costs an exception inside
    # SQLAlchemy, which was most of the Python time of a 12-month partner query.
    labels = list(result.keys())
    positions = [labels.index(label) if label in labels else None for label in KEY_LABELS]
    currency, quantity, amount, count = (labels.index(label) for label in _SUMS_LABELS)
    for row in result:
        key: Key = (*(None if at is None else row[at] for at in positions), row[currency])
        target = totals.setdefault(key, Sums())
        target.quantity += row[quantity]
        target.amount += row[amount]
        target.record_count += int(row[count])
        if attributed:
            target.attributed_quantity_units += micro(row[quantity]) * DAY_SECONDS
            target.attributed_amount_units += micro(row[amount]) * DAY_SECONDS


def add_boundary_days(result: Result[Any], groups: frozenset[GroupBy], totals: Totals) -> None:
    """Add the rows of statements.boundary_days, each for the seconds of its day its association was in effect."""
    # (rollup row, partner, type[, role]) -> [row, seconds]: two intervals touching the same day add their seconds.
    by_role = GroupBy.RECOGNITION_ROLE in groups
    shares: dict[tuple[Any, ...], list[Any]] = {}
    for row in result:
        seconds = seconds_active(row.usage_date, row.valid_from, row.valid_to)
        if not 0 < seconds < DAY_SECONDS:
            continue  # a whole day (counted in SQL) or one the interval only touches at midnight
        rollup_key = (
            row.subscription_id,
            row.usage_date,
            row.service_name,
            row.currency,
            row.partner_id,
            row.type,
            row.recognition_role if by_role else None,  # selected only then
        )
        share = shares.setdefault(rollup_key, [row, 0])
        share[1] += seconds
    for row, seconds in shares.values():
        key = _key(
            groups,
            day=row.usage_date,
            service=row.service_name,
            subscription_id=row.subscription_id,
            tenant_id=row.tenant_id if GroupBy.TENANT in groups else None,  # selected only then
            partner_id=row.partner_id,
            association_type=row.type,
            recognition_role=row.recognition_role if by_role else None,
            currency=row.currency,
        )
        _add_partial(totals.setdefault(key, Sums()), row, seconds)


def _add_partial(target: Sums, rollup: Any, seconds: int) -> None:
    target.quantity += rollup.quantity
    target.amount += rollup.amount
    target.record_count += rollup.record_count
    target.attributed_quantity_units += micro(rollup.quantity) * seconds
    target.attributed_amount_units += micro(rollup.amount) * seconds
    basis = target.partial.setdefault((rollup.subscription_id, rollup.usage_date), [seconds, Decimal(0), Decimal(0)])
    basis[1] += rollup.quantity
    basis[2] += rollup.amount


def _key(groups: frozenset[GroupBy], **values: Any) -> Key:
    """A grouping key from a rollup's values: only the groups asked for, and partner and type always."""
    day: date | None = values.get("day")
    return (
        day.replace(day=1) if GroupBy.MONTH in groups and day is not None else values.get("month"),
        day if GroupBy.DAY in groups else None,
        values["service"] if GroupBy.SERVICE in groups else None,
        values["subscription_id"] if GroupBy.SUBSCRIPTION in groups else None,
        values["tenant_id"] if GroupBy.TENANT in groups else None,
        values.get("partner_id"),
        values.get("association_type"),
        values.get("recognition_role"),
        values["currency"],
    )


def aggregate_rows(totals: Totals, *, attributed: bool) -> list[AggregateRow]:
    """The rows, ordered by their keys' text; a group whose days all lay outside the window (a monthly row less
    those days) has no record left, and is no row."""
    kept = [(key, value) for key, value in totals.items() if value.record_count]
    return [_row(key, value, attributed) for key, value in sorted(kept, key=_sort_key)]


def _row(key: Key, sums: Sums, attributed: bool) -> AggregateRow:
    month, day, service, subscription_id, tenant_id, partner_id, association_type, recognition_role, currency = key
    attribution = None
    if attributed:
        partial_days = tuple(
            PartialDay(subscription_id=sub, day=on, seconds=basis[0], quantity=basis[1], amount=basis[2])
            for (sub, on), basis in sorted(sums.partial.items())
        )
        amount = Fraction(sums.attributed_amount_units, UNITS_PER_WHOLE)
        attribution = Attribution(
            quantity=Fraction(sums.attributed_quantity_units, UNITS_PER_WHOLE),
            amount=amount,
            amount_presented=present(amount, currency),
            partial_days=partial_days,
        )
    return AggregateRow(
        currency=currency,
        quantity=sums.quantity,
        amount=sums.amount,
        record_count=sums.record_count,
        month=month,
        day=day,
        service=service,
        subscription_id=subscription_id,
        tenant_id=tenant_id,
        partner_id=partner_id,
        association_type=association_type,
        recognition_role=recognition_role,
        attribution=attribution,
    )


def _sort_key(item: tuple[Key, Sums]) -> tuple[str, ...]:
    return tuple("" if part is None else str(part.value if isinstance(part, enum.Enum) else part) for part in item[0])
