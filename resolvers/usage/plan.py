"""Which statements one usage read sends, and the values of their parameters: pure, no session.

A read is partner-scoped when the caller's usage filter is a partner's (its windows), when it groups by PARTNER or
RECOGNITION_ROLE, or when it filters by partner or by association type; its rows are then also grouped by partner
and association type (each type is attributed on its own, see attribution.py).

Sums come from the monthly rollups for the months of the window's month span (month_span.py: its whole months,
and an edge month mostly inside it, less the daily rows of its days outside; for partner rows only the months the
association also covers whole) and from the daily rollups for the rest (and for DAY grouping). Raw usage_records
are never read. A plain read sends one or two statements, a partner-scoped one two or three.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from auth.row_filters import UsageVisibility
from resolvers.usage.aggregate_types import AggregateFilter, GroupBy, parent_groups
from resolvers.usage.conditions import WINDOW, ReadShape, day_range, parameters, set_fields
from resolvers.usage.month_span import MonthSpan, month_span
from resolvers.usage.statements import (
    INSIDE,
    MONTHS,
    DaySplit,
    Statement,
    attributed_days,
    attributed_monthly,
    boundary_days,
    edge,
    outside,
    plain_daily,
    plain_monthly,
)
from resolvers.usage.window import check_window, within_usage_days


@dataclass(frozen=True, slots=True)
class Plan:
    groups: frozenset[GroupBy]  # asked for, and the parents' of a batch
    attributed: bool  # partner-scoped: rows carry an attribution
    sums: tuple[Statement, ...]  # rows of group keys and sums (partner-scoped: of the days counted whole)
    boundary: Statement | None  # partner-scoped: the rollup rows of the associations' first and last days
    parameters: Mapping[str, Any]  # every statement's values, the caller's usage filter's included


def plan(filter: AggregateFilter, group_by: Iterable[GroupBy], dialect: str, reach: UsageVisibility) -> Plan | None:
    """The read of `filter` grouped by `group_by` under the caller's usage filter; None when no day of the window
    can hold usage. UsageInputError on a bad window."""
    group_by = frozenset(group_by)
    check_window(filter, group_by)
    clamped = within_usage_days(filter)
    if clamped is None:
        return None
    groups = group_by | parent_groups(clamped)
    attributed = (
        reach.attributed
        or GroupBy.PARTNER in groups
        or GroupBy.RECOGNITION_ROLE in groups
        or clamped.partner_id is not None
        or clamped.association_type is not None
    )
    shape = ReadShape(dialect, groups, set_fields(clamped), reach.shape)
    span = None if GroupBy.DAY in groups else month_span(clamped.date_from, clamped.date_to)
    values = {**reach.parameters, **parameters(clamped), **_span_parameters(span)}
    if attributed:
        split = None
        if span is not None:
            inside_first, inside_last = span.inside
            split = DaySplit(clamped.date_from < inside_first, inside_last < clamped.date_to, len(span.outside))
        monthly = () if span is None else (attributed_monthly(shape),)
        sums = (*monthly, attributed_days(shape, split))
        return Plan(groups, True, sums, boundary_days(shape), values)
    # (range of days, sign) read from the daily rollup: the whole window, or the span's edges added and its days
    # outside the window subtracted.
    ranges: tuple[tuple[str, int], ...] = ((WINDOW, 1),)
    if span is not None:
        ranges = (
            *((edge(index), 1) for index in range(len(span.edges))),
            *((outside(index), -1) for index in range(len(span.outside))),
        )
    monthly = () if span is None else (plain_monthly(shape),)
    daily = (plain_daily(shape, ranges),) if ranges else ()
    return Plan(groups, False, (*monthly, *daily), None, values)


def _span_parameters(span: MonthSpan | None) -> dict[str, Any]:
    if span is None:
        return {}
    values = {**day_range(MONTHS, span.first_month, span.last_month), **day_range(INSIDE, *span.inside)}
    for index, (first, last) in enumerate(span.edges):
        values.update(day_range(edge(index), first, last))
    for index, (first, last) in enumerate(span.outside):
        values.update(day_range(outside(index), first, last))
    return values
