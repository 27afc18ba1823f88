"""How a window of days is read from the rollups: whole months from the monthly rollup, the rest day by day.

A month lying wholly inside the window is one monthly row per (subscription, service, currency). A month the
window covers only in part is read from the monthly rollup too when most of its days are inside: its monthly
row minus the daily rows of its days outside the window (`outside`), which is exact (sums and record counts
are additive) and reads the few days outside instead of the many inside. A typical "last 12 months up to
yesterday" window so reads its current month as one monthly row minus today's (and tomorrow's) daily rows. A
month mostly outside the window is read day by day (`edges`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

_ONE_DAY = timedelta(days=1)

DayRange = tuple[date, date]  # both ends inclusive


@dataclass(frozen=True, slots=True)
class MonthSpan:
    first_month: date  # the first day of the first month read from the monthly rollup
    last_month: date  # the first day of the last one
    outside: tuple[DayRange, ...]  # days of those months outside the window: their daily rows are subtracted
    edges: tuple[DayRange, ...]  # days of the window outside those months: their daily rows are added
    window: DayRange

    @property
    def inside(self) -> DayRange:
        """The days of the window inside the span's months."""
        return max(self.window[0], self.first_month), min(self.window[1], month_end(self.last_month))


def month_end(month: date) -> date:
    """The last day of the month starting on `month`."""
    return next_month(month) - _ONE_DAY


def next_month(month: date) -> date:
    return (month + timedelta(days=32)).replace(day=1)


def previous_month(month: date) -> date:
    return (month - _ONE_DAY).replace(day=1)


def month_span(first: date, last: date) -> MonthSpan | None:
    """How to read [first, last]; None when no month is worth the monthly rollup (read every day daily)."""
    first_month, last_month = first.replace(day=1), last.replace(day=1)
    if first_month == last_month:
        before, after = (first - first_month).days, (month_end(last_month) - last).days
        if before + after >= (last - first).days + 1:
            return None
        outside = [(first_month, first - _ONE_DAY), (last + _ONE_DAY, month_end(last_month))]
        return MonthSpan(first_month, last_month, _non_empty(outside), (), (first, last))
    outside, edges = [], []
    # The first month: more of its days outside the window than inside (a tie too) read the inside ones daily.
    before, inside = (first - first_month).days, (month_end(first_month) - first).days + 1
    if before >= inside:
        edges.append((first, month_end(first_month)))
        first_month = next_month(first_month)
    else:
        outside.append((first_month, first - _ONE_DAY))
    after, inside = (month_end(last_month) - last).days, (last - last_month).days + 1
    if after >= inside:
        edges.append((last_month, last))
        last_month = previous_month(last_month)
    else:
        outside.append((last + _ONE_DAY, month_end(last_month)))
    if first_month > last_month:
        return None  # two adjacent months, both read daily
    return MonthSpan(first_month, last_month, _non_empty(outside), _non_empty(edges), (first, last))


def _non_empty(ranges: list[DayRange]) -> tuple[DayRange, ...]:
    return tuple((start, end) for start, end in ranges if start <= end)
