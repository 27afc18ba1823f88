"""Scalars with the guarantees the API promises: money never travels as a float, instants always carry UTC, and
counters that outgrow GraphQL's 32-bit Int travel as decimal strings.

Dates and decimals are read with resolvers/grammar.py, the grammar the usage file import uses too, so the API
and `dpor-gateway ingest` accept exactly the same spellings.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from typing import NewType

import strawberry
from strawberry.exceptions import StrawberryInputCoercionError

from resolvers import grammar


def _parse_decimal(value: object) -> decimal.Decimal:
    # JSON numbers arrive as floats, which have already lost exactness: only strings are accepted.
    if not isinstance(value, str):
        raise StrawberryInputCoercionError('Decimal values are strings, e.g. "12.50"; numbers are refused')
    parsed = grammar.parse_decimal(value)
    if parsed is None:
        raise StrawberryInputCoercionError(f'"{value[:40]}" is not a decimal number ({grammar.DECIMAL_FORM})')
    return parsed


def _serialize_decimal(value: decimal.Decimal) -> str:
    return format(value, "f")


def _parse_date(value: object) -> dt.date:
    if not isinstance(value, str):
        raise StrawberryInputCoercionError(f"Date values are strings written {grammar.DATE_FORM}")
    parsed = grammar.parse_date(value)
    if parsed is None:
        raise StrawberryInputCoercionError(f'"{value[:40]}" is not a date written {grammar.DATE_FORM}')
    return parsed


def _serialize_date(value: dt.date) -> str:
    return value.isoformat()


def _parse_datetime(value: object) -> dt.datetime:
    if not isinstance(value, str):
        raise StrawberryInputCoercionError("DateTime values are ISO 8601 strings")
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise StrawberryInputCoercionError(f'"{value[:40]}" is not an ISO 8601 date-time') from None
    if parsed.tzinfo is None:
        raise StrawberryInputCoercionError("DateTime values need an offset (e.g. 2026-03-15T12:00:00Z)")
    try:
        return parsed.astimezone(dt.UTC)
    except OverflowError:
        # 9999-12-31T23:59:59-14:00 is a valid local time whose UTC instant lies in year 10000.
        raise StrawberryInputCoercionError(f'"{value[:40]}" lies outside years 1 to 9999 in UTC') from None


def _serialize_datetime(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


DecimalScalar = strawberry.scalar(
    name="Decimal",
    description=(
        'An exact decimal number carried as a string (e.g. "1234.500000"); never a float. Input: an optional "-",'
        ' ASCII digits, an optional fraction and exponent ("12.50", "-3", ".5", "1.5e3"); no "+", spaces,'
        " underscores, NaN or Infinity."
    ),
    serialize=_serialize_decimal,
    parse_value=_parse_decimal,
)

DateScalar = strawberry.scalar(
    name="Date",
    description="A calendar date written YYYY-MM-DD (ISO 8601 extended format; no week or ordinal dates).",
    serialize=_serialize_date,
    parse_value=_parse_date,
)

DateTimeScalar = strawberry.scalar(
    name="DateTime",
    description=(
        'An instant in ISO 8601 with an offset; the API always answers in UTC ("...Z"). Its UTC instant must lie'
        " in years 1 to 9999."
    ),
    serialize=_serialize_datetime,
    parse_value=_parse_datetime,
)

# A counter stored as a BIGINT that may pass 2^31 - 1, GraphQL's Int maximum (the change events' `sequence`):
# annotate a field `BigInt` to expose it with the BigInt scalar below.
BigInt = NewType("BigInt", int)
_BIG_INT = re.compile(r"-?(0|[1-9][0-9]{0,18})")
_BIG_INT_RANGE = range(-(2**63), 2**63)


def _serialize_big_int(value: int) -> str:
    return str(value)


def _parse_big_int(value: object) -> int:
    # A string, like the answers: a JSON number past 2^53 has already lost its exact value in a JavaScript client.
    if not isinstance(value, str) or not _BIG_INT.fullmatch(value) or int(value) not in _BIG_INT_RANGE:
        raise StrawberryInputCoercionError('BigInt values are decimal strings of a 64-bit integer, e.g. "2147483648"')
    return int(value)


BigIntScalar = strawberry.scalar(
    name="BigInt",
    description=(
        'A 64-bit signed integer carried as a decimal string (e.g. "2147483648"): GraphQL\'s Int stops at 2^31 - 1,'
        " and a JSON number loses exactness past 2^53 in JavaScript. Compare values as integers, not as strings."
    ),
    serialize=_serialize_big_int,
    parse_value=_parse_big_int,
)

SCALAR_OVERRIDES: dict[object, object] = {
    BigInt: BigIntScalar,
    decimal.Decimal: DecimalScalar,
    dt.date: DateScalar,
    dt.datetime: DateTimeScalar,
}
