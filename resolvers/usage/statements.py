"""The statements of a usage read, as pure functions: a statement's shape in, a SQLAlchemy Core statement out.

No session and no values: every value is a bind parameter named in conditions.py (filters and window) or here
(ranges of days), so one statement serves every read of its shape. Each is built once per shape and kept (the
cache key SQLAlchemy computes for a statement is memoized on it, so a kept statement is not keyed again either);
the benchmark floor (bench/floor_usage.py) compiles the same objects for asyncpg.

Sums are grouped by currency as well (amounts of two currencies are never added). Partner-scoped statements
(`attributed_*`, `boundary_days`) join the partner associations and add their partner and association type to
the keys (and their recognition role when grouped by it); see aggregates.py for how the statements of one read fit
together.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from sqlalchemy import CTE, CompoundSelect, FromClause, Table, and_, bindparam, func, not_, select, true, union_all
from sqlalchemy.sql import ColumnElement, Select

from resolvers.usage.aggregate_types import GroupBy
from resolvers.usage.attribution import association_days, full_day_condition, next_month, whole_month_condition
from resolvers.usage.conditions import (
    ASSOCIATIONS,
    SUBSCRIPTIONS,
    WINDOW,
    ReadShape,
    association_conditions,
    conditions,
    days,
)
from resolvers.usage.rollups import DAILY, MONTHLY, month_start

Statement = Select[Any] | CompoundSelect[Any]
MONTHS = "months"  # the months read from the monthly rollup (months_first, months_last)
INSIDE = "inside"  # the window's days inside those months


def edge(index: int) -> str:
    """A range of the window's days outside the months read from the monthly rollup: added from the daily one."""
    return f"edge_{index}"


def outside(index: int) -> str:
    """A range of days of those months outside the window: subtracted."""
    return f"outside_{index}"


@dataclass(frozen=True, slots=True)
class DaySplit:
    """How a partner-scoped read with months from the monthly rollup splits its daily sum (see _daily_parts)."""

    before: bool  # window days before the months read monthly
    after: bool  # window days after them
    outside: int  # ranges of those months' days outside the window


@functools.lru_cache(maxsize=512)
def plain_monthly(shape: ReadShape) -> Statement:
    """The sums of the monthly rollup rows of the months read whole."""
    return _summing(shape, MONTHLY).where(days(MONTHLY.c.month, MONTHS), *conditions(shape, MONTHLY, joined=False))


@functools.lru_cache(maxsize=512)
def plain_daily(shape: ReadShape, ranges: tuple[tuple[str, int], ...]) -> Statement:
    """The sums of the daily rollup rows of each named range of days, negated where its sign is -1."""
    parts = [
        _summing(shape, DAILY, sign=sign).where(days(DAILY.c.usage_date, name), *conditions(shape, DAILY, joined=False))
        for name, sign in ranges
    ]
    return union_all(*parts) if len(parts) > 1 else parts[0]


@functools.lru_cache(maxsize=512)
def association_spans(shape: ReadShape) -> CTE:
    """The associations a partner-scoped read attributes, read once per statement, each with the days its interval
    bounds (attribution.association_days) worked out once rather than at every rollup row it is compared with.

    Every part of the read's statements joins its rollup rows to these, so PostgreSQL reads the partner's
    associations (and checks them against their row-level security policy) once, not once per part, and compares
    plain dates per rollup row: the partner 12-month read (5) as the gateway's role, 9.4 -> 7.3 ms of backend CPU
    on the small benchmark data, 21.0 -> 17.7 ms on the large. MATERIALIZED keeps it one scan however many parts
    read it (PostgreSQL would otherwise fold it into each)."""
    associations = ASSOCIATIONS.c
    bounds = association_days(shape.dialect, associations.valid_from, associations.valid_to)
    spans = (
        select(
            associations.subscription_id,
            associations.partner_id,
            associations.type,
            associations.recognition_role,
            associations.valid_from,
            associations.valid_to,
            *(value.label(name) for name, value in bounds.items()),
        )
        .where(*association_conditions(shape))
        .cte("association_spans")
    )
    return spans.prefix_with("MATERIALIZED") if shape.dialect == "postgresql" else spans


@functools.lru_cache(maxsize=512)
def attributed_monthly(shape: ReadShape) -> Statement:
    """Months of the span that an association covers whole: one monthly rollup row each."""
    spans = association_spans(shape)
    covers_whole_month = and_(
        spans.c.subscription_id == MONTHLY.c.subscription_id,
        whole_month_condition(shape.dialect, MONTHLY.c.month, spans.c.day_before_first_whole, spans.c.ends_on),
    )
    return _summing(shape, MONTHLY, association=(spans, covers_whole_month)).where(
        days(MONTHLY.c.month, MONTHS), *conditions(shape, MONTHLY, joined=True)
    )


@functools.lru_cache(maxsize=512)
def attributed_days(shape: ReadShape, split: DaySplit | None) -> Statement:
    """The other days an association covers whole (rollup rows summed in SQL), and with a month span, less the
    days of the months counted whole (attributed_monthly) that lie outside the window (`split.outside`)."""
    dialect = shape.dialect
    spans = association_spans(shape)
    first, ends = spans.c.day_before_first_whole, spans.c.ends_on
    joined = conditions(shape, DAILY, joined=True)
    daily_conditions = [days(DAILY.c.usage_date, WINDOW), *joined]
    subtracted: list[Select[Any]] = []
    if split is not None:
        # The days outside the window of a month counted whole (whole days too: the association covers their month)...
        day_month = month_start(dialect, DAILY.c.usage_date)
        covers_day_month = and_(
            spans.c.subscription_id == DAILY.c.subscription_id,
            whole_month_condition(dialect, day_month, first, ends),
        )
        less = _summing(shape, DAILY, association=(spans, covers_day_month), sign=-1)
        subtracted = [less.where(days(DAILY.c.usage_date, outside(index)), *joined) for index in range(split.outside)]
        # ...and its days inside the window are left out of the daily sum.
        counted_monthly = and_(days(day_month, MONTHS), whole_month_condition(dialect, day_month, first, ends))
        daily_conditions.append(not_(counted_monthly))
    # Whole days: rollup rows joined to the association that covers their day entirely.
    covers_whole_day = and_(
        spans.c.subscription_id == DAILY.c.subscription_id, full_day_condition(DAILY.c.usage_date, first, ends)
    )
    whole_days = _summing(shape, DAILY, association=(spans, covers_whole_day))
    parts = [whole_days.where(*daily_conditions, part) for part in _daily_parts(dialect, spans, split)] + subtracted
    # Several parts may yield the same group: the sums add them up.
    return union_all(*parts) if len(parts) > 1 else parts[0]


def _daily_parts(dialect: str, spans: CTE, split: DaySplit | None) -> list[ColumnElement[bool]]:
    """Day ranges that split the daily whole-day sum into parts each read as one index range per association.

    Without a month span every day of the window may be needed. With one, a day inside the span's months is
    needed only when its association does not cover its month whole, which can happen only in the month of
    the association's first whole day or of its last one: every month between is covered whole. So the parts
    are the window's days outside the span's months (fixed ranges), and, per association, the days of those
    two months inside the span (ranges from the association's row, which PostgreSQL uses as index bounds in the
    join instead of reading the association's whole window and filtering most of it away). The parts never
    overlap, so no day is counted twice; the exact conditions still apply in each part.
    """
    usage_date = DAILY.c.usage_date
    if split is None:
        return [true()]
    parts: list[ColumnElement[bool]] = []
    if split.before:
        parts.append(usage_date < bindparam(f"{INSIDE}_first"))
    if split.after:
        parts.append(usage_date > bindparam(f"{INSIDE}_last"))
    inside = days(usage_date, INSIDE)
    start, end = spans.c.first_whole_month, spans.c.last_whole_month
    parts.append(and_(inside, usage_date >= start, usage_date < next_month(dialect, start)))
    # The last whole day's month, unless it is the first's (an open association has none: NULL is false).
    parts.append(and_(inside, usage_date >= end, usage_date < next_month(dialect, end), end > start))
    return parts


@functools.lru_cache(maxsize=512)
def boundary_days(shape: ReadShape) -> Statement:
    """Partial days: the daily rollup rows of each association's first and last day, with its interval, for the
    seconds to be counted in Python (sums.add_boundary_days).

    The rows of the association's subscription on the UTC day of valid_from, and those on the UTC day of valid_to
    when it is another day. Each is an equality on the rollup's primary key (subscription, day), so PostgreSQL
    looks the few rows up instead of reading the association's whole window and filtering it, as one join on
    "either day" made it do.
    """
    spans = association_spans(shape)
    starts, ends = spans.c.starts_on, spans.c.ends_on
    return union_all(_rollups_on(shape, spans, starts), _rollups_on(shape, spans, ends, ends != starts))  # NULL: none


def _rollups_on(shape: ReadShape, spans: CTE, day: ColumnElement[Any], *extra: ColumnElement[bool]) -> Select[Any]:
    """The daily rollup rows of each association's subscription on `day` (a day of the association's span), with
    the association's partner, type and interval, and the tenant and recognition role when grouping by them."""
    columns: list[Any] = [DAILY, spans.c.partner_id, spans.c.type, spans.c.valid_from, spans.c.valid_to]
    source = spans.join(DAILY, and_(DAILY.c.subscription_id == spans.c.subscription_id, DAILY.c.usage_date == day))
    if GroupBy.TENANT in shape.groups:
        columns.append(SUBSCRIPTIONS.c.tenant_id)
        source = source.join(SUBSCRIPTIONS, SUBSCRIPTIONS.c.id == spans.c.subscription_id)
    if GroupBy.RECOGNITION_ROLE in shape.groups:
        columns.append(spans.c.recognition_role)
    return (
        select(*columns)
        .select_from(source)
        .where(days(DAILY.c.usage_date, WINDOW), *conditions(shape, DAILY, joined=True), *extra)
    )


def _summing(
    shape: ReadShape,
    table: Table,
    *,
    association: tuple[FromClause, ColumnElement[bool]] | None = None,
    sign: int = 1,
) -> Select[Any]:
    """SUM the rollup `table` by the group keys and currency; joined to the associations (association_spans) on the
    condition, if given.

    With sign=-1 the sums are negated: days subtracted from a monthly row (see month_span.py)."""
    source: Any = table
    extra: list[ColumnElement[Any]] = []
    if association is not None:
        spans, on = association
        source = source.join(spans, on)
        extra = [spans.c.partner_id.label("partner_id"), spans.c.type.label("association_type")]
        if GroupBy.RECOGNITION_ROLE in shape.groups:
            extra.append(spans.c.recognition_role.label("recognition_role"))
    if GroupBy.TENANT in shape.groups:
        source = source.join(SUBSCRIPTIONS, SUBSCRIPTIONS.c.id == table.c.subscription_id)
    group = [*extra, *_group_columns(shape, table), table.c.currency]
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


def _group_columns(shape: ReadShape, table: Table) -> list[ColumnElement[Any]]:
    """The SELECT list of the group keys, labelled as AggregateRow's fields (absent ones omitted)."""
    period = table.c.usage_date if table is DAILY else table.c.month
    columns: list[ColumnElement[Any]] = []
    if GroupBy.MONTH in shape.groups:
        columns.append((period if table is MONTHLY else month_start(shape.dialect, period)).label("month"))
    if GroupBy.DAY in shape.groups:
        columns.append(period.label("day"))
    if GroupBy.SERVICE in shape.groups:
        columns.append(table.c.service_name.label("service"))
    if GroupBy.SUBSCRIPTION in shape.groups:
        columns.append(table.c.subscription_id.label("subscription_id"))
    if GroupBy.TENANT in shape.groups:
        columns.append(SUBSCRIPTIONS.c.tenant_id.label("tenant_id"))
    return columns


def _signed(sign: int, total: ColumnElement[Any]) -> ColumnElement[Any]:
    return total if sign > 0 else -total
