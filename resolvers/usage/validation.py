"""The usage record as callers send it, the checks it must pass, and the error that lists every failure.

Rules (the same for the API batch and the file import):
- strings are non-empty, hold no NUL character (PostgreSQL cannot store one) and are no longer than their
  column (subscription id 64, service 128, meter id 64, meter name 256, unit 32);
- the usage date is an ISO date (YYYY-MM-DD) from 2000-01-01 up to tomorrow (UTC): usage cannot be reported
  for a day that has not started anywhere yet;
- quantity and amount are decimals in the grammar of resolvers/grammar.py (the API's Decimal scalar reads the
  same one), with at most 6 significant fraction digits (trailing zeros do not count: 1.5000000 is 1.5) and an
  absolute value below 10**12 (the bound keeps SQLite's scaled 64-bit storage of the rollup sums far from
  overflow); quantity is never negative, amount may be (credits and refunds);
- currency is an ISO 4217 code with a minor unit, three upper-case letters (see currencies.py);
- within one batch a natural key (subscription, usage date, meter id) appears once.

Currency per subscription is deliberately not fixed: aggregates are always grouped by currency, so a
subscription billed in two currencies is reported as two rows and never summed across currencies.
A subscription the database does not know, or one that is DELETED, is reported by `subscription_problem`
below, called by ingestion.py and file_writes.py once they have resolved the batch's ids with one query.
DELETED is final: the subscription's usage is closed, and no record for it is accepted any more, whatever its
usage date (also not a correction of a day before the deletion: the platform sends a subscription's final
usage before it deletes it, and the store keeps no deletion day to bound late corrections by).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Protocol

from resolvers import grammar
from resolvers.codes import Code
from resolvers.usage.currencies import MINOR_UNITS

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


# Machine-readable reasons a record is refused (FieldProblem.code, the API's `problems[].code`, the CLI's
# --rejects file).
INVALID_VALUE = "INVALID_VALUE"
DUPLICATE_KEY = "DUPLICATE_KEY"
UNKNOWN_SUBSCRIPTION = "UNKNOWN_SUBSCRIPTION"
SUBSCRIPTION_DELETED = "SUBSCRIPTION_DELETED"
MALFORMED_LINE = "MALFORMED_LINE"


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One bad field: `index` is the record's position in the batch (0-based), or its line in a file."""

    index: int
    field: str
    message: str
    code: str = INVALID_VALUE


class UsageInputError(Exception):
    """The batch was refused as a whole; `problems` names every bad record and field."""

    code = Code.BAD_USER_INPUT

    def __init__(self, problems: Sequence[FieldProblem]) -> None:
        self.problems = tuple(problems)
        first = self.problems[0] if self.problems else None
        summary = f"{first.field} at {first.index}: {first.message}" if first else "invalid input"
        super().__init__(f"{len(self.problems)} invalid field(s); first: {summary}")


def latest_usage_date(today: date | None = None) -> date:
    return (today or datetime.now(UTC).date()) + timedelta(days=1)


def validate_record(index: int, record: UsageRecordInput, *, latest: date) -> ValidRecord | list[FieldProblem]:
    """Check one record; return it normalized, or every problem found (not just the first)."""
    return validate_values(
        index,
        record.subscription_id,
        record.usage_date,
        record.service,
        record.meter_id,
        record.meter_name,
        record.quantity,
        record.unit,
        record.amount,
        record.currency,
        latest=latest,
    )


def validate_values(
    index: int,
    subscription_id: str,
    usage_date: date | str,
    service: str,
    meter_id: str,
    meter_name: str,
    quantity: Decimal | str,
    unit: str,
    amount: Decimal | str,
    currency: str,
    *,
    latest: date,
) -> ValidRecord | list[FieldProblem]:
    """validate_record on the fields themselves: the file import calls it per line, without building an input.

    Written for speed (it runs for every line of a multi-million-line file): the common, valid case takes a
    handful of C-level calls per field.
    """
    problems: list[FieldProblem] = []
    for field, value, limit in (
        (SUBSCRIPTION_ID, subscription_id, 64),
        (SERVICE, service, 128),
        (METER_ID, meter_id, 64),
        (METER_NAME, meter_name, 256),
        (UNIT, unit, 32),
    ):
        if not (type(value) is str and 0 < len(value) <= limit and "\x00" not in value):
            problems.append(_string_problem(index, field, value, limit))
    day = _date(index, usage_date, latest, problems)
    exact_quantity = _decimal(index, QUANTITY, quantity, problems, allow_negative=False)
    exact_amount = _decimal(index, AMOUNT, amount, problems, allow_negative=True)
    if not (type(currency) is str and currency in MINOR_UNITS):
        problems.append(FieldProblem(index, CURRENCY, "must be an ISO 4217 currency code such as USD"))
    if problems or day is None or exact_quantity is None or exact_amount is None:
        return problems
    return ValidRecord(
        subscription_id, day, service, meter_id, meter_name, exact_quantity, unit, exact_amount, currency
    )


def _string_problem(index: int, field: str, value: object, limit: int) -> FieldProblem:
    if not isinstance(value, str) or not value:
        return FieldProblem(index, field, "must be a non-empty string")
    if "\x00" in value:
        return FieldProblem(index, field, "must not contain a NUL character")
    return FieldProblem(index, field, f"must be at most {limit} characters")


def subscription_problem(index: int, subscription: SubscriptionState | None) -> FieldProblem | None:
    """Why a record naming this subscription (None: not in the database) cannot be written, if it cannot."""
    if subscription is None:
        return FieldProblem(index, SUBSCRIPTION_ID, "no such subscription", UNKNOWN_SUBSCRIPTION)
    if subscription.deleted:
        return FieldProblem(index, SUBSCRIPTION_ID, "the subscription is deleted", SUBSCRIPTION_DELETED)
    return None


class SubscriptionState(Protocol):
    """What the subscription rule reads of a resolved subscription."""

    @property
    def deleted(self) -> bool: ...


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
            problems.append(FieldProblem(index, METER_ID, message, DUPLICATE_KEY))
    return problems


def _date(index: int, value: date | str, latest: date, problems: list[FieldProblem]) -> date | None:
    parsed: date | None = None
    if type(value) is str:
        parsed = grammar.parse_date(value)
    elif isinstance(value, date) and not isinstance(value, datetime):
        # A datetime is a date subclass, but usage is reported per day: refused rather than truncated.
        parsed = value
    if parsed is None:
        problems.append(FieldProblem(index, USAGE_DATE, "must be a date written YYYY-MM-DD"))
        return None
    if not EARLIEST_USAGE_DATE <= parsed <= latest:
        problems.append(FieldProblem(index, USAGE_DATE, f"must be between {EARLIEST_USAGE_DATE} and {latest}"))
        return None
    return parsed


def _decimal(
    index: int, field: str, value: Decimal | str, problems: list[FieldProblem], *, allow_negative: bool
) -> Decimal | None:
    number: Decimal | None = None
    if type(value) is str:
        number = grammar.parse_decimal(value)
    elif isinstance(value, Decimal):
        number = value
    if number is None or not number.is_finite():
        problems.append(FieldProblem(index, field, f"must be a decimal number ({grammar.DECIMAL_FORM})"))
        return None
    # copy_abs, not abs(): abs() rounds to the context, which raises Overflow for 1E+999999999.
    if number.copy_abs() >= MAX_ABSOLUTE_VALUE:
        problems.append(FieldProblem(index, field, f"must be below {MAX_ABSOLUTE_VALUE:,} in absolute value"))
        return None
    # Below 10**12, six fraction digits fit the context's 28 digits, so quantize is exact or visibly rounds:
    # equal means no significant digit beyond the sixth (1.5000000 is 1.5 and passes).
    stored = number.quantize(_STORAGE_QUANTUM)
    if stored != number:
        problems.append(FieldProblem(index, field, f"must have at most {FRACTION_DIGITS} fraction digits"))
        return None
    if not allow_negative and number < 0:
        problems.append(FieldProblem(index, field, "must not be negative"))
        return None
    return stored
