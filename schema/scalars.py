"""Scalars with the guarantees the API promises: money never travels as a float, instants always carry UTC."""

from __future__ import annotations

import datetime as dt
import decimal

import strawberry
from strawberry.exceptions import StrawberryInputCoercionError


def _parse_decimal(value: object) -> decimal.Decimal:
    # JSON numbers arrive as floats, which have already lost exactness: only strings are accepted.
    if not isinstance(value, str):
        raise StrawberryInputCoercionError('Decimal values are strings, e.g. "12.50"; numbers are refused')
    try:
        parsed = decimal.Decimal(value.strip())
    except decimal.InvalidOperation:
        raise StrawberryInputCoercionError(f'"{value[:40]}" is not a decimal number') from None
    if not parsed.is_finite():
        raise StrawberryInputCoercionError("Decimal values must be finite")
    return parsed


def _serialize_decimal(value: decimal.Decimal) -> str:
    return format(value, "f")


def _parse_datetime(value: object) -> dt.datetime:
    if not isinstance(value, str):
        raise StrawberryInputCoercionError("DateTime values are ISO 8601 strings")
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise StrawberryInputCoercionError(f'"{value[:40]}" is not an ISO 8601 date-time') from None
    if parsed.tzinfo is None:
        raise StrawberryInputCoercionError("DateTime values need an offset (e.g. 2026-03-15T12:00:00Z)")
    return parsed.astimezone(dt.UTC)


def _serialize_datetime(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


DecimalScalar = strawberry.scalar(
    name="Decimal",
    description='An exact decimal number carried as a string (e.g. "1234.500000"); never a float.',
    serialize=_serialize_decimal,
    parse_value=_parse_decimal,
)

DateTimeScalar = strawberry.scalar(
    name="DateTime",
    description='An instant in ISO 8601 with an offset; the API always answers in UTC ("...Z").',
    serialize=_serialize_datetime,
    parse_value=_parse_datetime,
)

SCALAR_OVERRIDES: dict[object, object] = {decimal.Decimal: DecimalScalar, dt.datetime: DateTimeScalar}
