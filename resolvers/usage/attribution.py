"""Attribution: how a subscription's usage is shared between the partners associated with it.

The rule
--------
Partner associations hold second-precision, half-open UTC intervals [validFrom, validTo); an open
association has no validTo. A partner's share of a subscription's usage on the UTC day d, for one association
type, is the fraction of day d its association of that type was in effect: seconds active during d / 86,400.
The attributed amount is the day's amount times that fraction, computed exactly (as a fraction: 86,400 has
the factor 3, so a share is not always a finite decimal) and rounded only for presentation, to the currency's
minor unit (ISO 4217: JPY 0 digits, USD 2, BHD 3), half to even.

Example: a Digital Partner of Record replaced on 15 March at 12:00 UTC. The old partner is attributed all of
1-14 March and half of 15 March; the new partner half of 15 March and all of 16-31 March. Each association
type (Digital Partner of Record, transacting partner, admin link, claiming partner) is attributed on its own,
so one subscription-day can be attributed in full to one partner as DPOR and to another as transacting
partner. Amounts in different currencies are never added together.

Only associations in effect count (status ACTIVE). A claim (resolvers/claims.py) is not attributed while PENDING,
inside its decline window; a DECLINED claim is never attributed; a claim whose window passed undeclined becomes
ACTIVE and is then attributed from its claim time (validFrom), the days of its window included.

How it is computed
------------------
A partner's sum over a window is the sum over the days its association covers whole (read with SQL SUM from
the monthly rollups for months it covers whole, `whole_month_condition`, and from the daily rollups for the
other whole days, `full_day_condition`) plus, for the boundary days of each
association (at most two per interval: the day it starts, if not at midnight, and the day it ends), the day's
rollup times the fraction counted in seconds, in Python (`seconds_active`). Raw usage records are never
scanned.

Intervals of one (subscription, partner, type) never overlap: the write path ends an association before a
new one of the same partner and type can start. The seconds of two intervals that touch the same day (ended
at 10:00, started again at 14:00) add up.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from typing import Any

from sqlalchemy import Date, and_, cast, func, literal_column, or_
from sqlalchemy.sql import ColumnElement

DAY_SECONDS = 86_400
_ONE_DAY = timedelta(days=1)
_ONE_SECOND = timedelta(seconds=1)


def day_start(day: date) -> datetime:
    """Midnight UTC at the start of `day`."""
    return datetime.combine(day, time(0), tzinfo=UTC)


def seconds_active(day: date, valid_from: datetime, valid_to: datetime | None) -> int:
    """Seconds of UTC day `day` inside [valid_from, valid_to)."""
    start = max(day_start(day), valid_from)
    end = day_start(day + _ONE_DAY) if valid_to is None else min(day_start(day + _ONE_DAY), valid_to)
    return max(0, int((end - start).total_seconds()))


def share(seconds: int) -> Fraction:
    return Fraction(seconds, DAY_SECONDS)


def full_day_condition(
    usage_date: ColumnElement[date], day_before_first_whole: ColumnElement[date], ends_on: ColumnElement[date | None]
) -> ColumnElement[bool]:
    """SQL: the UTC day `usage_date` lies wholly inside the association's [valid_from, valid_to), given the days
    association_days works out from them.

    Day d is whole iff d > the UTC date of (valid_from - 1 second) and d < the UTC date of valid_to: the
    first whole day is valid_from's own day when it starts at midnight and the next day otherwise, and
    valid_to's day is never whole (it ends before midnight, or at the midnight that starts it).
    """
    return and_(usage_date > day_before_first_whole, or_(ends_on.is_(None), usage_date < ends_on))


def whole_month_condition(
    dialect: str,
    month: ColumnElement[date],
    day_before_first_whole: ColumnElement[date],
    ends_on: ColumnElement[date | None],
) -> ColumnElement[bool]:
    """SQL: every day of the month starting on `month` lies wholly inside the association's [valid_from, valid_to).

    Its first day is whole (as in full_day_condition) and the first day of the next month is no later than
    the UTC date of valid_to (so the month's last day is whole too). Such a month is read from the monthly
    rollups in one row instead of up to 31 daily ones.
    """
    return and_(month > day_before_first_whole, or_(ends_on.is_(None), next_month(dialect, month) <= ends_on))


def association_days(
    dialect: str, valid_from: ColumnElement[datetime], valid_to: ColumnElement[datetime | None]
) -> dict[str, ColumnElement[Any]]:
    """SQL: the days an association's interval bounds, by the names the conditions here take them by, worked out
    once per association (statements.association_spans) rather than at every rollup row it is compared with:
    `day_before_first_whole`, `starts_on` (valid_from's UTC day), `ends_on` (valid_to's; NULL while open), and the
    months of its first and last whole days (`first_whole_month`, `last_whole_month`)."""
    return {
        "day_before_first_whole": _day_before_first_whole(dialect, valid_from),
        "starts_on": utc_date(dialect, valid_from),
        "ends_on": utc_date(dialect, valid_to),
        "first_whole_month": first_whole_day_month(dialect, valid_from),
        "last_whole_month": last_whole_day_month(dialect, valid_to),
    }


def first_whole_day_month(dialect: str, valid_from: ColumnElement[datetime]) -> ColumnElement[date]:
    """SQL: the first day of the month holding the interval's first whole day (the day after
    _day_before_first_whole)."""
    if dialect == "postgresql":
        day = func.timezone("UTC", valid_from) - _ONE_SECOND + _ONE_DAY
        return cast(func.date_trunc("month", day), Date)
    return func.date(valid_from, "-1 seconds", "+1 day", "start of month", type_=Date)


def last_whole_day_month(dialect: str, valid_to: ColumnElement[datetime | None]) -> ColumnElement[date]:
    """SQL: the first day of the month holding the interval's last whole day (the day before valid_to's UTC
    day, as in full_day_condition); NULL while the interval is open."""
    if dialect == "postgresql":
        return cast(func.date_trunc("month", func.timezone("UTC", valid_to) - _ONE_DAY), Date)
    return func.date(valid_to, "-1 day", "start of month", type_=Date)


def next_month(dialect: str, month: ColumnElement[date]) -> ColumnElement[date]:
    """SQL: the first day of the month after the one starting on `month`."""
    if dialect == "postgresql":
        return cast(month + literal_column("interval '1 month'"), Date)
    return func.date(month, "+1 month", type_=Date)


def _day_before_first_whole(dialect: str, valid_from: ColumnElement[datetime]) -> ColumnElement[date]:
    """SQL: the UTC date of valid_from - 1 second; the first whole day of the interval is the day after."""
    if dialect == "postgresql":
        return cast(func.timezone("UTC", valid_from) - _ONE_SECOND, Date)
    return func.date(valid_from, "-1 seconds", type_=Date)


def utc_date(dialect: str, instant: ColumnElement[datetime] | ColumnElement[datetime | None]) -> ColumnElement[date]:
    """SQL: the UTC calendar day of a UTCDateTime column."""
    if dialect == "postgresql":
        # AT TIME ZONE 'UTC' (timezone()) first: casting a timestamptz to date would use the session's zone.
        return cast(func.timezone("UTC", instant), Date)
    # SQLite stores UTCDateTime as naive UTC text, which its date() function reads directly.
    return func.date(instant, type_=Date)
