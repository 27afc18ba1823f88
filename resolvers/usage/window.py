"""The window of a usage aggregate: the limits a caller's window must keep, and the days it can hold usage on."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import date, timedelta

from resolvers.usage.aggregate_types import AggregateFilter, GroupBy
from resolvers.usage.validation import EARLIEST_USAGE_DATE, FieldProblem, UsageInputError

MAX_WINDOW_MONTHS = 36
MAX_DAY_GROUPING_DAYS = 366
# Every stored usage day lies between EARLIEST_USAGE_DATE and the day after it was ingested (validation.py):
# a window clamped to those days has the same answer, and the date arithmetic on it (the day after `to`, the
# months around the ends) stays inside Python's years 1 to 9999, however near them the caller's dates are.
_LAST_USAGE_DAY = date(9998, 12, 31)


def check_window(filter: AggregateFilter, group_by: Iterable[GroupBy]) -> None:
    """UsageInputError when the window runs backwards or is longer than its grouping allows."""
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


def add_months(day: date, months: int) -> date:
    """The same day of the month `months` later, clamped to the month's last day (31 Jan + 1 = 28/29 Feb)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    first_of_next = date(year + (month + 1) // 12, (month + 1) % 12 + 1, 1)
    return date(year, month + 1, min(day.day, (first_of_next - timedelta(days=1)).day))


def within_usage_days(filter: AggregateFilter) -> AggregateFilter | None:
    """The filter with its window clamped to the days usage can have; None when none is left."""
    first, last = max(filter.date_from, EARLIEST_USAGE_DATE), min(filter.date_to, _LAST_USAGE_DAY)
    if first > last:
        return None
    if (first, last) == (filter.date_from, filter.date_to):
        return filter
    return dataclasses.replace(filter, date_from=first, date_to=last)
