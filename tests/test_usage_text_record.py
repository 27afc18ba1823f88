"""The file import's fast check: it accepts only canonical text, and every other line gets validate_values'
verdict, normalized to the same canonical text the database is sent."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from resolvers.usage.text_record import TextChecker
from resolvers.usage.validation import FieldProblem

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
    cases = {
        "1.5e3": "1500.000000",
        ".5": "0.500000",
        "1.5000000": "1.500000",  # trailing zeros beyond the sixth digit are not significant
        " 7 ": "7.000000",
        "\u0661\u0662": "12.000000",  # Arabic-Indic digits: Decimal reads them, PostgreSQL would not
        "0000000000000001": "1.000000",
    }
    for written, canonical in cases.items():
        result = checker.check(3, _with(5, written))
        assert isinstance(result, tuple), written
        assert result[5] == canonical
    json_number = checker.check(4, _with(7, Decimal("0.1")))
    assert isinstance(json_number, tuple) and json_number[7] == "0.100000"


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
