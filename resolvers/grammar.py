"""The one grammar of dates and decimals written as text, for the API's scalars and the usage file import.

Python's own parsers are more liberal than any caller means to be, and more liberal than PostgreSQL:
`date.fromisoformat` takes week dates (2026-W09-1) and basic format (20260301); `Decimal()` takes
surrounding whitespace, `+5`, `1_000`, digits of other scripts (Arabic-Indic, fullwidth), NaN, Infinity and
sNaN. A value the API took and the file import refused (or the reverse) would make the two disagree about
the same record, so both parse text here and only here:

- a date is exactly YYYY-MM-DD in ASCII digits (a calendar date of ISO 8601's extended format);
- a decimal is an optional minus, ASCII digits with an optional fraction (`12`, `12.5`, `.5`), and an
  optional exponent (`1.5e3`, `2E-4`): what JSON, spreadsheets and `str(Decimal)` write. Nothing else:
  no sign `+`, no spaces, no underscores, no NaN or Infinity.

A decimal that parses may still be huge (`1E+999999999`); bounds are the caller's rule (usage validation
keeps values below 10**12), checked with context-free operations so no such value can raise.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}").fullmatch
_DECIMAL = re.compile(r"-?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?").fullmatch

DATE_FORM = "YYYY-MM-DD"
DECIMAL_FORM = 'digits with an optional "-", fraction and exponent, e.g. "12.50", "-3", "1.5e3"'


def parse_date(text: str) -> date | None:
    """The calendar date `text` writes as YYYY-MM-DD, or None (other forms, impossible days such as 02-30)."""
    if not _DATE(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def parse_decimal(text: str) -> Decimal | None:
    """The finite decimal `text` writes in the grammar above, or None (also for an exponent beyond what
    Decimal can represent at all, about 10**18)."""
    if not _DECIMAL(text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None
