"""The file import's fast check: it accepts only canonical text, and every other line gets validate_values'
verdict, normalized to the same canonical text the database is sent."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from resolvers.usage.text_record import TextChecker
from resolvers.usage.validation import FieldProblem
from tests import scalar_edges

LATEST = date(2026, 3, 31)
GOOD = ("sub-1", "2026-03-01", "Compute", "m1", "VM", "1.5", "Hours", "-3.25", "USD")


def _with(position: int, value: object) -> tuple[object, ...]:
    return (*GOOD[:position], value, *GOOD[position + 1 :])


def test_canonical_lines_pass_as_they_are_once_their_day_was_validated() -> None:
    checker = TextChecker(LATEST)
    # A day not seen yet goes through validate_values: the same record, numbers at the storage scale.
    assert checker.check(2, GOOD) == (
        "sub-1",
        "2026-03-01",
        "Compute",
        "m1",
        "VM",
        "1.500000",
        "Hours",
        "-3.250000",
        "USD",
    )
    assert checker.valid_days == {"2026-03-01"}
    assert checker.check(3, GOOD) is GOOD  # the fast path: the very tuple, no new objects


def test_other_spellings_of_valid_numbers_are_normalized_to_the_storage_scale() -> None:
    checker = TextChecker(LATEST)
    checker.check(2, GOOD)
    # Trailing zeros beyond the sixth digit are not significant (1.5000000 is 1.5).
    for written, stored in scalar_edges.DECIMALS_IN_GRAMMAR.items():
        result = checker.check(3, _with(7, written))  # the amount: it may be negative
        assert isinstance(result, tuple), written
        # Plain text within the limits passes as written (the fast path); the rest is normalized.
        assert result[7] in (written, stored) and Decimal(result[7]) == Decimal(stored), written
    json_number = checker.check(4, _with(7, Decimal("0.1")))
    assert isinstance(json_number, tuple) and json_number[7] == "0.100000"


@pytest.mark.parametrize(
    "written",
    scalar_edges.DECIMALS_NOT_IN_GRAMMAR + scalar_edges.DECIMALS_NOT_FINITE + scalar_edges.DECIMALS_HUGE_EXPONENTS,
)
def test_numbers_outside_the_grammar_or_the_bounds_are_refused_not_raised(written: str) -> None:
    # " 7 " and Arabic-Indic digits used to pass here (Decimal reads them); 1E+999999999 raised decimal.Overflow.
    checker = TextChecker(LATEST)
    for position in (5, 7):
        result = checker.check(3, _with(position, written))
        assert isinstance(result, list), (position, written)
        assert [problem.field for problem in result] == [("quantity", "amount")[position == 7]]


@pytest.mark.parametrize("written", scalar_edges.DATES_NOT_IN_GRAMMAR)
def test_dates_outside_the_grammar_are_refused(written: str) -> None:
    result = TextChecker(LATEST).check(3, _with(1, written))
    assert isinstance(result, list) and [problem.field for problem in result] == ["usageDate"]


@pytest.mark.parametrize("position", [0, 2, 3, 4, 6])
def test_nul_in_a_text_field_is_refused_on_the_fast_path_too(position: int) -> None:
    checker = TextChecker(LATEST)
    checker.check(2, GOOD)  # the day is known: the line would take the fast path
    for nul in scalar_edges.NUL_STRINGS:
        result = checker.check(3, _with(position, nul))
        assert isinstance(result, list), (position, nul)
        assert "NUL" in result[0].message or result[0].message == "must be a non-empty string"


def test_bad_lines_get_every_problem_validate_values_finds() -> None:
    checker = TextChecker(LATEST)
    checker.check(2, GOOD)
    result = checker.check(9, ("", "2026-02-30", "Compute", "m1", "VM", "-1", "Hours", "1.0000001", "usd"))
    assert isinstance(result, list)
    assert [(problem.index, problem.field) for problem in result] == [
        (9, "subscriptionId"),
        (9, "usageDate"),
        (9, "quantity"),
        (9, "amount"),
        (9, "currency"),
    ]
    assert all(isinstance(problem, FieldProblem) for problem in result)


def test_limits_hold_on_the_fast_path() -> None:
    checker = TextChecker(LATEST)
    checker.check(2, GOOD)
    for position, value in (
        (0, "s" * 65),
        (2, "c" * 129),
        (3, "m" * 65),
        (4, "n" * 257),
        (6, "u" * 33),
        (5, "1000000000000"),  # 10**12
        (7, "-1000000000000"),
        (1, "2026-04-01"),  # after `latest`
        (1, "1999-12-31"),
        (8, "XXX"),
    ):
        assert isinstance(checker.check(3, _with(position, value)), list), (position, value)
    assert isinstance(checker.check(3, _with(5, "999999999999.999999")), tuple)
    assert isinstance(checker.check(3, _with(0, ["not", "a", "string"])), list)  # JSON values of any type
