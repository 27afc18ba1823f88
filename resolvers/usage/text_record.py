"""The file import's fast check: a usage line's fields in, the record as canonical text out.

A file of millions of lines cannot afford a Decimal, a date and a dataclass per line only to turn them back
into text for COPY. A line whose fields are already in canonical form (an ISO date already seen valid in this
file, numbers written plainly within the limits, strings within their lengths and without NUL, a known
currency) passes with a few C-level calls and is kept as the text it is. Any other line goes through
validation.validate_values, the one definition of the rules, which reports every problem of a bad line or
normalizes a good one (1.5e3, JSON numbers) to canonical text. So the fast check only ever accepts a subset
of what validate_values accepts (in the grammar of resolvers/grammar.py, which the API's scalars share), with
the same stored values: a plain decimal of at most 12 integer and 6 fraction digits is below 10**12 and exact
at the storage scale.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from resolvers.usage.currencies import MINOR_UNITS
from resolvers.usage.validation import FieldProblem, ValidRecord, validate_values

# subscription id, usage date (YYYY-MM-DD), service, meter id, meter name, quantity, unit, amount, currency
TextRecord = tuple[str, str, str, str, str, str, str, str, str]

# ASCII digits only: re's \d also matches other scripts' digits, which Decimal reads and PostgreSQL does not.
_PLAIN_QUANTITY = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,6})?").fullmatch
_PLAIN_AMOUNT = re.compile(r"-?[0-9]{1,12}(?:\.[0-9]{1,6})?").fullmatch


class TextChecker:
    """Checks lines of one file; remembers the usage dates it found valid (a file holds few distinct days)."""

    def __init__(self, latest: date) -> None:
        self.latest = latest
        self.valid_days: set[str] = set()

    def check(self, line: int, fields: tuple[Any, ...]) -> TextRecord | list[FieldProblem]:
        """The line's record as canonical text, or every problem validate_values finds in it."""
        subscription_id, day, service, meter_id, meter_name, quantity, unit, amount, currency = fields
        # Types first: len() of a number raises, and a JSON list or object is not hashable.
        if (
            type(subscription_id) is str
            and type(day) is str
            and type(service) is str
            and type(meter_id) is str
            and type(meter_name) is str
            and type(unit) is str
            and type(quantity) is str
            and type(amount) is str
            and type(currency) is str
            and 0 < len(subscription_id) <= 64
            and 0 < len(service) <= 128
            and 0 < len(meter_id) <= 64
            and 0 < len(meter_name) <= 256
            and 0 < len(unit) <= 32
            and day in self.valid_days
            and currency in MINOR_UNITS
            and _PLAIN_QUANTITY(quantity)
            and _PLAIN_AMOUNT(amount)
            # COPY refuses NUL (and would abort the whole batch); the other fields cannot hold one here.
            and "\x00" not in subscription_id
            and "\x00" not in service
            and "\x00" not in meter_id
            and "\x00" not in meter_name
            and "\x00" not in unit
        ):
            return fields  # every field checked to be a str above
        result = validate_values(line, *fields, latest=self.latest)
        if isinstance(result, list):
            return result
        if type(day) is str:
            # It passed _date, so it is exactly YYYY-MM-DD (canonical) and within range for this file.
            self.valid_days.add(day)
        return canonical(result)


def canonical(record: ValidRecord) -> TextRecord:
    # At the storage scale (exponent -6), str() of a Decimal is plain notation: 1500.000000, never 1.5E+3.
    return (
        record.subscription_id,
        record.usage_date.isoformat(),
        record.service,
        record.meter_id,
        record.meter_name,
        str(record.quantity),
        record.unit,
        str(record.amount),
        record.currency,
    )
