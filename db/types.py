"""Column types that behave the same on SQLite and PostgreSQL.

Two facts of the data need help from us on SQLite:
- times are timezone-aware UTC, but SQLite stores no offset;
- money and quantities are exact decimals, but SQLite's NUMERIC affinity is a float and `SUM` over it rounds.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime, Dialect, Numeric
from sqlalchemy.types import TypeDecorator, TypeEngine


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC instant; naive datetimes are refused instead of guessed.

    With ``seconds=True`` the value is truncated to whole seconds, which is the precision of partner association
    intervals (attribution counts seconds, so sub-second parts would only create fractions nobody can explain).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def __init__(self, seconds: bool = False) -> None:
        super().__init__()
        self.seconds = seconds

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where a timezone-aware UTC instant is required")
        value = value.astimezone(UTC)
        if self.seconds:
            value = value.replace(microsecond=0)
        if dialect.name == "sqlite":
            # Stored as naive UTC text with a fixed format, so string comparison in SQL is time comparison.
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class ExactDecimal(TypeDecorator[Decimal]):
    """An exact decimal with a fixed number of fractional digits.

    PostgreSQL: NUMERIC(precision, scale). SQLite: a 64-bit integer counting units of 10**-scale, so sums done by
    the database stay exact. `func.sum(column, type_=column.type)` brings the sum back through this type.
    A value with more fractional digits than the scale is refused, never rounded: input loses nothing.
    """

    impl = Numeric
    cache_ok = True

    def __init__(self, precision: int, scale: int) -> None:
        super().__init__()
        self.precision = precision
        self.scale = scale

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=True))

    def process_bind_param(self, value: Decimal | int | None, dialect: Dialect) -> Decimal | int | None:
        if value is None:
            return None
        exact = Decimal(value)
        exponent = exact.as_tuple().exponent
        if isinstance(exponent, int) and exponent < -self.scale:
            raise ValueError(f"{exact} has more than {self.scale} fractional digits")
        if dialect.name == "sqlite":
            return int(exact.scaleb(self.scale))
        return exact

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(int(value)).scaleb(-self.scale)
        return Decimal(value)

    @property
    def python_type(self) -> type[Decimal]:
        return Decimal


# The two widths used by the models: a single record, and sums of many records.
def record_decimal() -> ExactDecimal:
    return ExactDecimal(24, 6)


def sum_decimal() -> ExactDecimal:
    return ExactDecimal(30, 6)
