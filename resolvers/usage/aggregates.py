"""`usage_aggregates`: usage summed by month, day, service, subscription, tenant or partner, from the rollups.

Rows are always grouped by currency as well (amounts of two currencies are never added). A query is
partner-scoped when the scope is a partner, when it groups by PARTNER, or when it filters by partner or by
association type; its rows are then also grouped by partner and association type (each type is attributed on
its own, see attribution.py) and carry an `Attribution`:
- quantity, amount and record_count of a partner row: the usage of the subscription-days on which the
  partner's association was in effect for at least one second (its share of them is in `attribution`);
- attribution.amount / .quantity: the exact attributed sums (fractions); attribution.amount_presented: the
  amount rounded to the currency's minor unit, half to even;
- attribution.partial_days, the basis: every (subscription, day) of the row attributed with a fraction below
  one (or reached only by two intervals touching that day), with the seconds attributed and that day's
  quantity and amount within the row. Every other day of the row is attributed whole, so attributed amount =
  amount - sum(partial.amount) + sum(partial.amount * partial.seconds / 86,400).

Scope: ALL (platform), TenantScope (that tenant's subscriptions only) or PartnerScope (only that partner's
attributed usage, inside its association windows). A filter outside the scope yields no rows, not an error.

Sets of parents: a filter may name several subscriptions, tenants or partners at once (`subscription_ids`,
`tenant_ids`, `partner_ids`, for the DataLoaders of the nested usage fields); the rows are then grouped by that
parent too, so by_parent.py can split them into what each parent's own query returns.

Sums come from the monthly rollups for the months of the window's month span (month_span.py: its whole
months, and an edge month mostly inside it, less the daily rows of its days outside; for partner rows only
the months the association also covers whole) and from the daily rollups for the rest (and for DAY
grouping). Raw usage_records are never read.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

from sqlalchemy import Table, and_, func, not_, or_, select, true, union_all
from sqlalchemy.engine import Result
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement, Select

from db.enums import AssociationType
from db.models import PartnerAssociation, Subscription
from resolvers.usage.attribution import (
    DAY_SECONDS,
    day_start,
    first_whole_day_month,
    full_day_condition,
    last_whole_day_month,
    next_month,
    seconds_active,
    utc_date,
    whole_month_condition,
)
from resolvers.usage.currencies import present
from resolvers.usage.month_span import MonthSpan, month_span
from resolvers.usage.rollups import DAILY, MONTHLY, month_start
from resolvers.usage.validation import EARLIEST_USAGE_DATE, FieldProblem, UsageInputError

MAX_WINDOW_MONTHS = 36
MAX_DAY_GROUPING_DAYS = 366
ASSOCIATIONS: Table = PartnerAssociation.__table__  # type: ignore[assignment]
SUBSCRIPTIONS: Table = Subscription.__table__  # type: ignore[assignment]
# Attributed sums are kept as integers: micro-units (the rollups' 6 decimal places) times seconds, so adding
# thousands of shares costs integer additions; one Fraction is made per row at the end.
_MICRO = 1_000_000
_UNITS_PER_WHOLE = _MICRO * DAY_SECONDS


class GroupBy(enum.Enum):
    MONTH = "MONTH"
    DAY = "DAY"
    SERVICE = "SERVICE"
    SUBSCRIPTION = "SUBSCRIPTION"
    TENANT = "TENANT"
    PARTNER = "PARTNER"


@dataclass(frozen=True, slots=True)
class AllScope:
    """A platform administrator: every row."""


@dataclass(frozen=True, slots=True)
class TenantScope:
    tenant_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class PartnerScope:
    partner_id: uuid.UUID


Scope = AllScope | TenantScope | PartnerScope
ALL = AllScope()


@dataclass(frozen=True, slots=True)
class AggregateFilter:
    date_from: date
    date_to: date  # inclusive
    tenant_id: uuid.UUID | None = None
    subscription_id: uuid.UUID | None = None
    partner_id: uuid.UUID | None = None
    association_type: AssociationType | None = None
    service: str | None = None
    # Several parents in one query; each set adds its parent's grouping (see _parent_groups).
    subscription_ids: frozenset[uuid.UUID] | None = None
    tenant_ids: frozenset[uuid.UUID] | None = None
    partner_ids: frozenset[uuid.UUID] | None = None


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
    attribution: Attribution | None = None


# The grouping key of a row, in AggregateRow's field order after the sums.
_Key = tuple[
    date | None,
    date | None,
    str | None,
    uuid.UUID | None,
    uuid.UUID | None,
    uuid.UUID | None,
    AssociationType | None,
    str,
]


@dataclass(slots=True)
class _Sums:
    quantity: Decimal = Decimal(0)
    amount: Decimal = Decimal(0)
    record_count: int = 0
    attributed_quantity_units: int = 0  # micro-units x seconds
    attributed_amount_units: int = 0
    partial: dict[tuple[uuid.UUID, date], list[Any]] = field(default_factory=dict)


async def usage_aggregates(
    session: AsyncSession, filter: AggregateFilter, group_by: Sequence[GroupBy], scope: Scope
) -> list[AggregateRow]:
    """Usage in [filter.date_from, filter.date_to] as the scope allows; UsageInputError on a bad window."""
    check_window(filter, group_by)
    narrowed = _narrow(filter, scope)
    if narrowed is not None:
        narrowed = _within_usage_days(narrowed)
    if narrowed is None:
        return []
    groups = frozenset(group_by) | _parent_groups(narrowed)
    dialect = session.get_bind().dialect.name
    partner_scoped = (
        isinstance(scope, PartnerScope)
        or GroupBy.PARTNER in groups
        or narrowed.partner_id is not None
        or narrowed.association_type is not None
    )
    sums: dict[_Key, _Sums] = {}
    if partner_scoped:
        await _attributed_sums(session, dialect, narrowed, groups, sums)
    else:
        await _plain_sums(session, dialect, narrowed, groups, sums)
    # A group whose days all lay outside the window (a monthly row less those days) has no record left.
    kept = [(key, value) for key, value in sums.items() if value.record_count]
    return [_row(key, value, partner_scoped) for key, value in sorted(kept, key=_sort_key)]


def check_window(filter: AggregateFilter, group_by: Sequence[GroupBy]) -> None:
    problems = []
    if filter.date_to < filter.date_from:
        problems.append(FieldProblem(0, "filter.to", "must not be before filter.from"))
    elif _beyond_months(filter.date_from, filter.date_to, MAX_WINDOW_MONTHS):
        problems.append(FieldProblem(0, "filter.to", f"the window may span at most {MAX_WINDOW_MONTHS} months"))
    elif GroupBy.DAY in group_by and (filter.date_to - filter.date_from).days + 1 > MAX_DAY_GROUPING_DAYS:
        message = f"grouping by DAY allows a window of at most {MAX_DAY_GROUPING_DAYS} days"
        problems.append(FieldProblem(0, "groupBy", message))
    if problems:
        raise UsageInputError(problems)


def _beyond_months(first: date, last: date, months: int) -> bool:
    """Whether `last` is `months` months after `first` or later; a limit past year 9999 is never reached."""
    try:
        return last >= add_months(first, months)
    except ValueError:
        return False


# Every stored usage day lies between EARLIEST_USAGE_DATE and the day after it was ingested (validation.py):
# a window clamped to those days has the same answer, and the date arithmetic on it (the day after `to`, the
# months around the ends) stays inside Python's years 1 to 9999, however near them the caller's dates are.
_LAST_USAGE_DAY = date(9998, 12, 31)


def _within_usage_days(filter: AggregateFilter) -> AggregateFilter | None:
    """The filter with its window clamped to the days usage can have; None when none is left."""
    first, last = max(filter.date_from, EARLIEST_USAGE_DATE), min(filter.date_to, _LAST_USAGE_DAY)
    if first > last:
        return None
    if (first, last) == (filter.date_from, filter.date_to):
        return filter
    return _replace(filter, date_from=first, date_to=last)


def add_months(day: date, months: int) -> date:
    """The same day of the month `months` later, clamped to the month's last day (31 Jan + 1 = 28/29 Feb)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    first_of_next = date(year + (month + 1) // 12, (month + 1) % 12 + 1, 1)
    return date(year, month + 1, min(day.day, (first_of_next - timedelta(days=1)).day))


def _parent_groups(filter: AggregateFilter) -> frozenset[GroupBy]:
    """The groupings that keep the rows of a set of parents apart (partner rows always carry their partner)."""
    groups = set()
    if filter.subscription_ids is not None:
        groups.add(GroupBy.SUBSCRIPTION)
    if filter.tenant_ids is not None:
        groups.add(GroupBy.TENANT)
    if filter.partner_ids is not None:
        groups.add(GroupBy.PARTNER)
    return frozenset(groups)


def _narrow(filter: AggregateFilter, scope: Scope) -> AggregateFilter | None:
    """Fold the scope into the filter; None when the filter asks for something outside the scope.

    A set of parents keeps only the one the scope allows: the others get no rows, as their own query would.
    """
    if isinstance(scope, TenantScope):
        if filter.tenant_id not in (None, scope.tenant_id):
            return None
        if filter.tenant_ids is not None and scope.tenant_id not in filter.tenant_ids:
            return None
        tenant_ids = None if filter.tenant_ids is None else frozenset({scope.tenant_id})
        return _replace(filter, tenant_id=scope.tenant_id, tenant_ids=tenant_ids)
    if isinstance(scope, PartnerScope):
        if filter.partner_id not in (None, scope.partner_id):
            return None
        if filter.partner_ids is not None and scope.partner_id not in filter.partner_ids:
            return None
        partner_ids = None if filter.partner_ids is None else frozenset({scope.partner_id})
        return _replace(filter, partner_id=scope.partner_id, partner_ids=partner_ids)
    return filter


def _replace(filter: AggregateFilter, **changes: Any) -> AggregateFilter:
    values = {name: getattr(filter, name) for name in AggregateFilter.__dataclass_fields__}
    return AggregateFilter(**(values | changes))


def _subscription_conditions(table: Table, filter: AggregateFilter) -> list[ColumnElement[bool]]:
    """The filter's subscription, tenant and service conditions on `table` (a rollup or the associations)."""
    conditions: list[ColumnElement[bool]] = []
    if filter.subscription_id is not None:
        conditions.append(table.c.subscription_id == filter.subscription_id)
    if filter.subscription_ids is not None:
        conditions.append(table.c.subscription_id.in_(sorted(filter.subscription_ids)))
    if filter.tenant_id is not None:
        owned = select(SUBSCRIPTIONS.c.id).where(SUBSCRIPTIONS.c.tenant_id == filter.tenant_id)
        conditions.append(table.c.subscription_id.in_(owned))
    if filter.tenant_ids is not None:
        owned = select(SUBSCRIPTIONS.c.id).where(SUBSCRIPTIONS.c.tenant_id.in_(sorted(filter.tenant_ids)))
        conditions.append(table.c.subscription_id.in_(owned))
    if filter.service is not None and "service_name" in table.c:
        conditions.append(table.c.service_name == filter.service)
    return conditions


def _group_columns(dialect: str, table: Table, groups: frozenset[GroupBy]) -> list[ColumnElement[Any]]:
    """The SELECT list of the group keys, labelled as AggregateRow's fields (absent ones omitted)."""
    period = table.c.usage_date if table is DAILY else table.c.month
    columns: list[ColumnElement[Any]] = []
    if GroupBy.MONTH in groups:
        columns.append((period if table is MONTHLY else month_start(dialect, period)).label("month"))
    if GroupBy.DAY in groups:
        columns.append(period.label("day"))
    if GroupBy.SERVICE in groups:
        columns.append(table.c.service_name.label("service"))
    if GroupBy.SUBSCRIPTION in groups:
        columns.append(table.c.subscription_id.label("subscription_id"))
    if GroupBy.TENANT in groups:
        columns.append(SUBSCRIPTIONS.c.tenant_id.label("tenant_id"))
    return columns


def _summing(
    table: Table,
    keys: list[ColumnElement[Any]],
    groups: frozenset[GroupBy],
    *,
    association: ColumnElement[bool] | None = None,
    sign: int = 1,
) -> Select[Any]:
    """SUM the rollup `table` by `keys` and currency; joined to the associations on `association` if given.

    With sign=-1 the sums are negated: days subtracted from a monthly row (see month_span.py)."""
    source: Any = table
    extra: list[ColumnElement[Any]] = []
    if association is not None:
        source = source.join(ASSOCIATIONS, association)
        extra = [ASSOCIATIONS.c.partner_id.label("partner_id"), ASSOCIATIONS.c.type.label("association_type")]
    if GroupBy.TENANT in groups:
        source = source.join(SUBSCRIPTIONS, SUBSCRIPTIONS.c.id == table.c.subscription_id)
    group = [*extra, *keys, table.c.currency]
    return (
        select(
            *group,
            _signed(sign, func.sum(table.c.quantity)).label("quantity"),
            _signed(sign, func.sum(table.c.amount)).label("amount"),
            _signed(sign, func.sum(table.c.record_count)).label("record_count"),
        )
        .select_from(source)
        .group_by(*group)
    )


def _signed(sign: int, total: ColumnElement[Any]) -> ColumnElement[Any]:
    return total if sign > 0 else -total


async def _plain_sums(
    session: AsyncSession,
    dialect: str,
    filter: AggregateFilter,
    groups: frozenset[GroupBy],
    sums: dict[_Key, _Sums],
) -> None:
    span = None if GroupBy.DAY in groups else month_span(filter.date_from, filter.date_to)
    # (days, sign) read from the daily rollup: the whole window, or the span's edges added and outside subtracted.
    daily_ranges = [((filter.date_from, filter.date_to), 1)]
    if span is not None:
        daily_ranges = [(days, 1) for days in span.edges] + [(days, -1) for days in span.outside]
        query = _summing(MONTHLY, _group_columns(dialect, MONTHLY, groups), groups).where(
            MONTHLY.c.month.between(span.first_month, span.last_month), *_subscription_conditions(MONTHLY, filter)
        )
        _add_rows(await session.execute(query), sums)
    parts = [
        _summing(DAILY, _group_columns(dialect, DAILY, groups), groups, sign=sign).where(
            DAILY.c.usage_date.between(start, end), *_subscription_conditions(DAILY, filter)
        )
        for (start, end), sign in daily_ranges
    ]
    if parts:
        _add_rows(await session.execute(union_all(*parts) if len(parts) > 1 else parts[0]), sums)


def _association_conditions(filter: AggregateFilter) -> list[ColumnElement[bool]]:
    """Associations of the filter's partner and type that overlap the window at all."""
    window_end = day_start(filter.date_to + timedelta(days=1))
    conditions: list[ColumnElement[bool]] = [
        ASSOCIATIONS.c.valid_from < window_end,
        or_(ASSOCIATIONS.c.valid_to.is_(None), ASSOCIATIONS.c.valid_to > day_start(filter.date_from)),
    ]
    if filter.partner_id is not None:
        conditions.append(ASSOCIATIONS.c.partner_id == filter.partner_id)
    if filter.partner_ids is not None:
        conditions.append(ASSOCIATIONS.c.partner_id.in_(sorted(filter.partner_ids)))
    if filter.association_type is not None:
        conditions.append(ASSOCIATIONS.c.type == filter.association_type)
    return [*conditions, *_subscription_conditions(ASSOCIATIONS, filter)]


async def _attributed_sums(
    session: AsyncSession,
    dialect: str,
    filter: AggregateFilter,
    groups: frozenset[GroupBy],
    sums: dict[_Key, _Sums],
) -> None:
    associations = _association_conditions(filter)
    valid_from, valid_to = ASSOCIATIONS.c.valid_from, ASSOCIATIONS.c.valid_to
    daily_conditions = [
        DAILY.c.usage_date.between(filter.date_from, filter.date_to),
        *_subscription_conditions(DAILY, filter),
        *associations,
    ]
    span = None if GroupBy.DAY in groups else month_span(filter.date_from, filter.date_to)
    subtracted: list[Select[Any]] = []
    if span is not None:
        # Months of the span that the association covers whole: one monthly rollup row each...
        covers_whole_month = and_(
            ASSOCIATIONS.c.subscription_id == MONTHLY.c.subscription_id,
            whole_month_condition(dialect, MONTHLY.c.month, valid_from, valid_to),
        )
        monthly = _summing(
            MONTHLY, _group_columns(dialect, MONTHLY, groups), groups, association=covers_whole_month
        ).where(
            MONTHLY.c.month.between(span.first_month, span.last_month),
            *_subscription_conditions(MONTHLY, filter),
            *associations,
        )
        _add_rows(await session.execute(monthly), sums, attributed=True)
        # ...less their days outside the window (whole days too: the association covers their month)...
        day_month = month_start(dialect, DAILY.c.usage_date)
        covers_day_month = and_(
            ASSOCIATIONS.c.subscription_id == DAILY.c.subscription_id,
            whole_month_condition(dialect, day_month, valid_from, valid_to),
        )
        outside = _summing(DAILY, _group_columns(dialect, DAILY, groups), groups, association=covers_day_month, sign=-1)
        subtracted = [
            outside.where(
                DAILY.c.usage_date.between(start, end), *_subscription_conditions(DAILY, filter), *associations
            )
            for start, end in span.outside
        ]
        # ...and their days inside the window are left out of the daily sum below.
        counted_monthly = and_(
            day_month.between(span.first_month, span.last_month),
            whole_month_condition(dialect, day_month, valid_from, valid_to),
        )
        daily_conditions.append(not_(counted_monthly))
    # Whole days: rollup rows joined to the association that covers their day entirely, summed in SQL.
    covers_whole_day = and_(
        ASSOCIATIONS.c.subscription_id == DAILY.c.subscription_id,
        full_day_condition(dialect, DAILY.c.usage_date, valid_from, valid_to),
    )
    whole_days = _summing(DAILY, _group_columns(dialect, DAILY, groups), groups, association=covers_whole_day)
    parts = [whole_days.where(*daily_conditions, part) for part in _daily_parts(dialect, span, filter)]
    parts += subtracted
    # Several parts may yield the same group: _add_rows adds them up.
    _add_rows(await session.execute(union_all(*parts) if len(parts) > 1 else parts[0]), sums, attributed=True)
    await _add_boundary_days(session, dialect, filter, groups, associations, sums)


def _daily_parts(dialect: str, span: MonthSpan | None, filter: AggregateFilter) -> list[ColumnElement[bool]]:
    """Day ranges that split the daily whole-day sum into parts each read as one index range per association.

    Without a month span every day of the window may be needed. With one, a day inside the span's months is
    needed only when its association does not cover its month whole, which can happen only in the month of
    the association's first whole day or of its last one: every month between is covered whole. So the parts
    are the window's days outside the span's months (fixed ranges), and, per association, the days of those
    two months inside the span (ranges computed from the association's row, which PostgreSQL uses as index
    bounds in the join instead of reading the association's whole window and filtering most of it away). The
    parts never overlap, so no day is counted twice; the exact conditions still apply in each part.
    """
    usage_date = DAILY.c.usage_date
    if span is None:
        return [true()]
    inside_start, inside_end = span.inside
    parts: list[ColumnElement[bool]] = []
    if filter.date_from < inside_start:
        parts.append(usage_date < inside_start)
    if inside_end < filter.date_to:
        parts.append(usage_date > inside_end)
    inside = usage_date.between(inside_start, inside_end)
    start = first_whole_day_month(dialect, ASSOCIATIONS.c.valid_from)
    end = last_whole_day_month(dialect, ASSOCIATIONS.c.valid_to)
    parts.append(and_(inside, usage_date >= start, usage_date < next_month(dialect, start)))
    # The last whole day's month, unless it is the first's (an open association has none: NULL is false).
    parts.append(and_(inside, usage_date >= end, usage_date < next_month(dialect, end), end > start))
    return parts


async def _add_boundary_days(
    session: AsyncSession,
    dialect: str,
    filter: AggregateFilter,
    groups: frozenset[GroupBy],
    associations: list[ColumnElement[bool]],
    sums: dict[_Key, _Sums],
) -> None:
    """Partial days: the rollups of each association's first and last day, times the fraction (Python).

    One statement reads them: the rollup rows of the association's subscription on the UTC day of valid_from,
    and those on the UTC day of valid_to when it is another day. Each is an equality on the rollup's primary key
    (subscription, day), so PostgreSQL looks the few rows up instead of reading the association's whole window
    and filtering it, as one join on "either day" made it do. The fraction is then counted in seconds here.
    """
    starts = utc_date(dialect, ASSOCIATIONS.c.valid_from)
    ends = utc_date(dialect, ASSOCIATIONS.c.valid_to)
    query = union_all(
        _rollups_on(starts, filter, groups, associations),
        _rollups_on(ends, filter, groups, [*associations, ends != starts]),  # NULL (open): no row
    )
    # (rollup row, partner, type) -> [row, seconds]: two intervals touching the same day add their seconds.
    shares: dict[tuple[Any, ...], list[Any]] = {}
    for row in await session.execute(query):
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
            currency=row.currency,
        )
        _add_partial(sums.setdefault(key, _Sums()), row, seconds)


def _rollups_on(
    day: ColumnElement[date],
    filter: AggregateFilter,
    groups: frozenset[GroupBy],
    associations: list[ColumnElement[bool]],
) -> Select[Any]:
    """The daily rollup rows of each association's subscription on `day` (an expression of the association),
    with the association's partner, type and interval, and the tenant when grouping by it."""
    columns: list[Any] = [
        DAILY,
        ASSOCIATIONS.c.partner_id,
        ASSOCIATIONS.c.type,
        ASSOCIATIONS.c.valid_from,
        ASSOCIATIONS.c.valid_to,
    ]
    source = ASSOCIATIONS.join(
        DAILY, and_(DAILY.c.subscription_id == ASSOCIATIONS.c.subscription_id, DAILY.c.usage_date == day)
    )
    if GroupBy.TENANT in groups:
        columns.append(SUBSCRIPTIONS.c.tenant_id)
        source = source.join(SUBSCRIPTIONS, SUBSCRIPTIONS.c.id == ASSOCIATIONS.c.subscription_id)
    return (
        select(*columns)
        .select_from(source)
        .where(
            DAILY.c.usage_date.between(filter.date_from, filter.date_to),
            *_subscription_conditions(DAILY, filter),
            *associations,
        )
    )


def _add_partial(target: _Sums, rollup: Any, seconds: int) -> None:
    target.quantity += rollup.quantity
    target.amount += rollup.amount
    target.record_count += rollup.record_count
    target.attributed_quantity_units += _micro(rollup.quantity) * seconds
    target.attributed_amount_units += _micro(rollup.amount) * seconds
    basis = target.partial.setdefault((rollup.subscription_id, rollup.usage_date), [seconds, Decimal(0), Decimal(0)])
    basis[1] += rollup.quantity
    basis[2] += rollup.amount


def _micro(value: Decimal) -> int:
    """A rollup value (at most 6 decimal places, as stored) in millionths, exactly."""
    units = value.scaleb(6)
    if units != units.to_integral_value():
        raise ValueError(f"{value} has more than 6 decimal places")
    return int(units)


def _key(groups: frozenset[GroupBy], **values: Any) -> _Key:
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
        values["currency"],
    )


# The labels of the grouping key in a summing SELECT, in _Key's order; a query selects only those it groups by.
_KEY_LABELS = ("month", "day", "service", "subscription_id", "tenant_id", "partner_id", "association_type")
_SUMS_LABELS = ("currency", "quantity", "amount", "record_count")


def _add_rows(result: Result[Any], sums: dict[_Key, _Sums], *, attributed: bool = False) -> None:
    # Positions looked up once per result: asking each row for a label it lacks costs an exception inside
    # SQLAlchemy, which was most of the Python time of a 12-month partner query.
    labels = list(result.keys())
    positions = [labels.index(label) if label in labels else None for label in _KEY_LABELS]
    currency, quantity, amount, count = (labels.index(label) for label in _SUMS_LABELS)
    for row in result:
        key: _Key = (*(None if at is None else row[at] for at in positions), row[currency])
        target = sums.setdefault(key, _Sums())
        target.quantity += row[quantity]
        target.amount += row[amount]
        target.record_count += int(row[count])
        if attributed:
            target.attributed_quantity_units += _micro(row[quantity]) * DAY_SECONDS
            target.attributed_amount_units += _micro(row[amount]) * DAY_SECONDS


def _row(key: _Key, sums: _Sums, partner_scoped: bool) -> AggregateRow:
    month, day, service, subscription_id, tenant_id, partner_id, association_type, currency = key
    attribution = None
    if partner_scoped:
        partial_days = tuple(
            PartialDay(subscription_id=sub, day=on, seconds=basis[0], quantity=basis[1], amount=basis[2])
            for (sub, on), basis in sorted(sums.partial.items())
        )
        attribution = Attribution(
            quantity=Fraction(sums.attributed_quantity_units, _UNITS_PER_WHOLE),
            amount=Fraction(sums.attributed_amount_units, _UNITS_PER_WHOLE),
            amount_presented=present(Fraction(sums.attributed_amount_units, _UNITS_PER_WHOLE), currency),
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
        attribution=attribution,
    )


def _sort_key(item: tuple[_Key, _Sums]) -> tuple[str, ...]:
    return tuple("" if part is None else str(part.value if isinstance(part, enum.Enum) else part) for part in item[0])
