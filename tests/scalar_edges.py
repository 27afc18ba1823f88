"""Scalar edge values that once reached INTERNAL, a traceback, or a disagreement between the API and the CLI.

A reusable list (plain data, no test here): tests of the scalars, of usage validation and of the file import use
it, and the fuzz test may draw from it. Each group says what the gateway must do with its values.
"""

from __future__ import annotations

# DateTime inputs whose offset is legal but whose UTC instant leaves years 1-9999: BAD_USER_INPUT.
DATETIMES_OUTSIDE_UTC_RANGE = (
    "9999-12-31T23:59:59-14:00",
    "9999-12-31T12:00:00-12:00",
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T09:59:59+10:00",
)

# DateTime inputs at the very ends of the range that stay inside it in UTC: accepted.
DATETIMES_AT_UTC_RANGE_ENDS = (
    "9999-12-31T23:59:59Z",
    "9999-12-31T09:59:59-14:00",
    "0001-01-01T00:00:00Z",
    "0001-01-01T14:00:00+14:00",
)

# Date values at the ends of Python's range: legal dates, so a window made of them is answered, never INTERNAL.
DATES_AT_RANGE_ENDS = ("0001-01-01", "0001-01-02", "9999-12-30", "9999-12-31")

# Spellings of a date that Python's fromisoformat reads but the one grammar (YYYY-MM-DD) refuses.
DATES_NOT_IN_GRAMMAR = (
    "2026-W09-1",  # ISO week date
    "2026W091",
    "2026-060",  # ordinal date
    "20260301",  # basic format
    " 2026-03-01",
    "2026-03-01 ",
    "\u0662\u0660\u0662\u0666-03-01",  # Arabic-Indic digits
    "2026-03-01T00:00:00",
)

# Decimals that are not numbers at all: refused everywhere.
DECIMALS_NOT_FINITE = ("NaN", "-NaN", "sNaN", "Infinity", "-Infinity", "inf", "nan")

# Spellings Python's Decimal() reads but the one grammar refuses.
DECIMALS_NOT_IN_GRAMMAR = (
    "1_000",
    "+5",
    " 2 ",
    "2 ",
    "\t2",
    "\u0661\u0662",  # Arabic-Indic digits
    "\uff11\uff12",  # fullwidth digits
    "1.",
    "1e",
    "0x10",
    "",
)

# In the grammar, but too large (or too small) for any usage bound: refused with a reason, never an exception.
DECIMALS_HUGE_EXPONENTS = (
    "1E+999999999",
    "-1E+999999999",
    "1E-999999999",
    "1e+999999999999999999999",
    "9" * 5_000,
)

# Spellings in the grammar, with the value usage stores (6 fraction digits).
DECIMALS_IN_GRAMMAR = {
    "12.50": "12.500000",
    "-3": "-3.000000",
    ".5": "0.500000",
    "1.5e3": "1500.000000",
    "2E-4": "0.000200",
    "1.5000000": "1.500000",
    "0000000000000001": "1.000000",
    "0E+999999999": "0.000000",
}

# Text the database cannot hold (PostgreSQL refuses NUL in text and in COPY input).
NUL_STRINGS = ("\x00", "VM\x00", "a\x00b")
