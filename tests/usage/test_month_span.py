"""month_span splits a window exactly: the span's months less `outside`, plus `edges`, are the window's days."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from resolvers.usage.month_span import DayRange, month_end, month_span

days = st.dates(min_value=date(2023, 1, 1), max_value=date(2029, 12, 31))


def _days(ranges: tuple[DayRange, ...] | list[DayRange]) -> list[date]:
    return [start + timedelta(days=n) for start, end in ranges for n in range((end - start).days + 1)]


@given(first=days, length=st.integers(0, 1100))
def test_the_span_reads_each_day_of_the_window_once_and_nothing_else(first: date, length: int) -> None:
    last = first + timedelta(days=length)
    window = set(_days([(first, last)]))
    span = month_span(first, last)
    if span is None:
        return
    months = _days([(span.first_month, month_end(span.last_month))])
    outside, edges = _days(span.outside), _days(span.edges)
    assert len(set(outside)) == len(outside) and set(outside) <= set(months) and not set(outside) & window
    assert len(set(edges)) == len(edges) and not set(edges) & set(months)
    assert (set(months) - set(outside)) | set(edges) == window
    # Read monthly only where it saves reading: fewer days outside than the window has inside the span.
    assert len(outside) < len(set(months) & window)
    inside_first, inside_last = span.inside
    assert set(_days([(inside_first, inside_last)])) == set(months) & window


def test_a_twelve_month_window_up_to_yesterday_reads_the_current_month_monthly() -> None:
    span = month_span(date(2025, 12, 1), date(2026, 11, 29))
    assert span is not None
    assert (span.first_month, span.last_month, span.outside, span.edges) == (
        date(2025, 12, 1),
        date(2026, 11, 1),
        ((date(2026, 11, 30), date(2026, 11, 30)),),
        (),
    )


def test_short_windows_mostly_outside_their_month_are_read_daily() -> None:
    assert month_span(date(2026, 3, 10), date(2026, 3, 20)) is None
    assert month_span(date(2026, 3, 25), date(2026, 4, 5)) is None
