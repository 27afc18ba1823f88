"""The usage record as callers send it, the checks it must pass, and the error that lists every failure.

Rules (the same for the API batch and the file import):
- strings are non-empty and no longer than their column (subscription id 64, service 128, meter id 64, meter
  name 256, unit 32);
- the usage date is an ISO date (YYYY-MM-DD) from 2000-01-01 up to tomorrow (UTC): usage cannot be reported
  for a day that has not started anywhere yet;
- quantity and amount are finite decimals with at most 6 significant fraction digits (trailing zeros do not
  count: 1.5000000 is 1.5) and an absolute value below 10**12 (the bound keeps SQLite's scaled 64-bit storage
  of the rollup sums far from overflow); quantity is never negative, amount may be (credits and refunds);
- currency is an ISO 4217 code with a minor unit, three upper-case letters (see currencies.py);
- within one batch a natural key (subscription, usage date, meter id) appears once.

Currency per subscription is deliberately not fixed: aggregates are always grouped by currency, so a
subscription billed in two currencies is reported as two rows and never summed across currencies.
A subscription the database does not know is reported by ingestion.py, which resolves ids with one query.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from resolvers.usage.currencies import is_currency

MAX_BATCH_RECORDS = 5_000
FRACTION_DIGITS = 6
MAX_ABSOLUTE_VALUE = Decimal(10) ** 12
EARLIEST_USAGE_DATE = date(2000, 1, 1)
_STORAGE_QUANTUM = Decimal(1).scaleb(-FRACTION_DIGITS)

# Field names as the API spells them, so an error points at the input the caller wrote.
SUBSCRIPTION_ID = "subscriptionId"
USAGE_DATE = "usageDate"
SERVICE = "service"
METER_ID = "meterId"
METER_NAME = "meterName"
QUANTITY = "quantity"
UNIT = "unit"
AMOUNT = "amount"
CURRENCY = "currency"
RECORDS = "records"

_STRING_LIMITS = ((SUBSCRIPTION_ID, 64), (SERVICE, 128), (METER_ID, 64), (METER_NAME, 256), (UNIT, 32))


@dataclass(frozen=True, slots=True)
class UsageRecordInput:
    """One record as received. Dates and numbers may arrive as text (files, JSON) or already typed."""

    subscription_id: str
    usage_date: date | str
    service: str
    meter_id: str
    meter_name: str
    quantity: Decimal | str
    unit: str
    amount: Decimal | str
    currency: str


@dataclass(frozen=True, slots=True)
class ValidRecord:
    """A record that passed every check that needs no database; numbers are at the storage scale."""

    subscription_id: str
    usage_date: date
    service: str
    meter_id: str
    meter_name: str
    quantity: Decimal
    unit: str
    amount: Decimal
    currency: str

    @property
    def natural_key(self) -> tuple[str, date, str]:
        return (self.subscription_id, self.usage_date, self.meter_id)


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One bad field: `index` is the record's position in the batch (0-based), or its line in a file."""

    index: int
    field: str
    message: str


class UsageInputError(Exception):
    """The batch was refused as a whole; `problems` names every bad record and field."""

    code = "BAD_USER_INPUT"

    def __init__(self, problems: Sequence[FieldProblem]) -> None:
        self.problems = tuple(problems)
        first = self.problems[0] if self.problems else None
        summary = f"{first.field} at {first.index}: {first.message}" if first else "invalid input"
        super().__init__(f"{len(self.problems)} invalid field(s); first: {summary}")


def latest_usage_date(today: date | None = None) -> date:
    return (today or datetime.now(UTC).date()) + timedelta(days=1)


def validate_record(
    index: int, record: UsageRecordInput, *, latest: date
) -> ValidRecord | list[FieldProblem]:
    """Check one record; return it normalized, or every problem found (not just the first)."""
    problems: list[FieldProblem] = []
    for field, limit in _STRING_LIMITS:
        value = getattr(record, _ATTRIBUTES[field])
        if not isinstance(value, str) or not value:
            problems.append(FieldProblem(index, field, "must be a non-empty string"))
        elif len(value) > limit:
            problems.append(FieldProblem(index, field, f"must be at most {limit} characters"))
    usage_date = _date(index, record.usage_date, latest, problems)
    quantity = _decimal(index, QUANTITY, record.quantity, problems, allow_negative=False)
    amount = _decimal(index, AMOUNT, record.amount, problems, allow_negative=True)
    if not (isinstance(record.currency, str) and is_currency(record.currency)):
        problems.append(FieldProblem(index, CURRENCY, "must be an ISO 4217 currency code such as USD"))
    if problems or usage_date is None or quantity is None or amount is None:
        return problems
    return ValidRecord(
        subscription_id=record.subscription_id,
        usage_date=usage_date,
        service=record.service,
        meter_id=record.meter_id,
        meter_name=record.meter_name,
        quantity=quantity,
        unit=record.unit,
        amount=amount,
        currency=record.currency,
    )


def validate_batch(
    records: Sequence[UsageRecordInput], *, today: date | None = None
) -> tuple[list[tuple[int, ValidRecord]], list[FieldProblem]]:
    """Validate a whole API batch: the valid records with their indexes, and every problem of the others.

    A batch over the size limit is refused at once (UsageInputError), before any record is looked at.
    """
    if not records:
        raise UsageInputError([FieldProblem(0, RECORDS, "must hold at least one record")])
    if len(records) > MAX_BATCH_RECORDS:
        raise UsageInputError(
            [FieldProblem(MAX_BATCH_RECORDS, RECORDS, f"at most {MAX_BATCH_RECORDS} records per batch")]
        )
    latest = latest_usage_date(today)
    valid: list[tuple[int, ValidRecord]] = []
    problems: list[FieldProblem] = []
    for index, record in enumerate(records):
        result = validate_record(index, record, latest=latest)
        if isinstance(result, ValidRecord):
            valid.append((index, result))
        else:
            problems.extend(result)
    problems.extend(duplicate_problems(valid))
    return valid, problems


def duplicate_problems(indexed: Iterable[tuple[int, ValidRecord]]) -> list[FieldProblem]:
    """A natural key seen before in the same batch: the later record is the bad one (the first stands)."""
    first_seen: dict[tuple[str, date, str], int] = {}
    problems = []
    for index, record in indexed:
        earlier = first_seen.setdefault(record.natural_key, index)
        if earlier != index:
            message = f"duplicates record {earlier} (same subscription, usage date and meter)"
            problems.append(FieldProblem(index, METER_ID, message))
    return problems


_ATTRIBUTES = {
    SUBSCRIPTION_ID: "subscription_id",
    SERVICE: "service",
    METER_ID: "meter_id",
    METER_NAME: "meter_name",
    UNIT: "unit",
}


def _date(index: int, value: date | str, latest: date, problems: list[FieldProblem]) -> date | None:
    if isinstance(value, datetime):
        parsed: date | None = None  # a datetime is a date subclass, but usage is reported per day
    elif isinstance(value, date):
        parsed = value
    else:
        try:
            parsed = date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
        except ValueError:
            parsed = None
    if parsed is None:
        problems.append(FieldProblem(index, USAGE_DATE, "must be a date written YYYY-MM-DD"))
        return None
    if not EARLIEST_USAGE_DATE <= parsed <= latest:
        problems.append(
            FieldProblem(index, USAGE_DATE, f"must be between {EARLIEST_USAGE_DATE} and {latest}")
        )
        return None
    return parsed


def _decimal(
    index: int, field: str, value: Decimal | str, problems: list[FieldProblem], *, allow_negative: bool
) -> Decimal | None:
    try:
        number = value if isinstance(value, Decimal) else Decimal(value) if isinstance(value, str) else None
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        problems.append(FieldProblem(index, field, "must be a decimal number"))
        return None
    if _fraction_digits(number) > FRACTION_DIGITS:
        problems.append(FieldProblem(index, field, f"must have at most {FRACTION_DIGITS} fraction digits"))
        return None
    if not allow_negative and number < 0:
        problems.append(FieldProblem(index, field, "must not be negative"))
        return None
    if abs(number) >= MAX_ABSOLUTE_VALUE:
        problems.append(FieldProblem(index, field, f"must be below {MAX_ABSOLUTE_VALUE:,} in absolute value"))
        return None
    # At the storage scale, so the column type never sees more digits than it keeps.
    return number.quantize(_STORAGE_QUANTUM)


def _fraction_digits(number: Decimal) -> int:
    """Significant digits after the point, counted exactly (normalize() would round a long input)."""
    _sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)  # finite, checked by the caller
    if exponent >= 0 or not any(digits):
        return 0
    trailing_zeros = 0
    while trailing_zeros < min(len(digits), -exponent) and digits[len(digits) - 1 - trailing_zeros] == 0:
        trailing_zeros += 1
    return -exponent - trailing_zeros
