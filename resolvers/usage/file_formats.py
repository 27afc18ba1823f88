"""The two usage file formats, CSV with a header row and JSON Lines: each line as its values in COLUMNS order.

A line that cannot be a record (wrong field count, not JSON, a JSON object nested too deep or with a key twice,
not an object with every column) comes out as a FieldProblem with MALFORMED_LINE, a rejected line like any
other; only a CSV header without the required columns stops the import (FileFormatError). The checks of the
values themselves are text_record.py's and validation.py's, not this module's.
"""

from __future__ import annotations

import csv
import json
import operator
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from resolvers.usage.file_lines import CountingLines, FileFormatError
from resolvers.usage.validation import MALFORMED_LINE, FieldProblem

COLUMNS = (
    "subscription_id",
    "usage_date",
    "service",
    "meter_id",
    "meter_name",
    "quantity",
    "unit",
    "amount",
    "currency",
)
# One line's values in COLUMNS order, as read (text, or JSON values).
Fields = tuple[Any, ...]
# (line number, the line's values or why it is not a record), line by line.
Inputs = Iterator[tuple[int, Fields | FieldProblem]]


def detect_format(path: Path, declared: str | None) -> str:
    if declared:
        return declared
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    raise FileFormatError(f"cannot tell the format of {path.name}; use --format csv or --format jsonl")


def csv_inputs(lines: CountingLines) -> Inputs:
    reader = csv.reader(lines)
    header = next(reader, None)
    missing = [name for name in COLUMNS if header is None or name not in header]
    if header is None or missing:
        raise FileFormatError(f"CSV header lacks column(s): {', '.join(missing)}")
    pick = operator.itemgetter(*(header.index(name) for name in COLUMNS))
    width = len(header)
    for row in reader:
        if not row:
            continue
        if len(row) != width:
            yield (
                reader.line_num,
                FieldProblem(reader.line_num, "line", f"has {len(row)} fields, not {width}", MALFORMED_LINE),
            )
            continue
        yield reader.line_num, pick(row)


# Objects decode to their list of (key, value) pairs, by the C-level `list`: a key written twice stays visible
# (a dict would silently keep the last value, and which one the sender meant is unknowable). A Python hook
# building the dict per object cost about a quarter of the JSON Lines read rate.
_JSON = json.JSONDecoder(parse_float=Decimal, object_pairs_hook=list)
_MUST_BE_OBJECT = f"must be an object with keys {', '.join(COLUMNS)}"


def jsonl_inputs(lines: CountingLines) -> Inputs:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            pairs = _JSON.decode(line)
        except ValueError:
            yield number, FieldProblem(number, "line", "is not valid JSON", MALFORMED_LINE)
            continue
        except RecursionError:
            yield number, FieldProblem(number, "line", "is nested too deeply to be a usage record", MALFORMED_LINE)
            continue
        # An array decodes to a list too: only text starting with "{" was an object.
        if not (line[0] == "{" or line.lstrip().startswith("{")):
            yield number, FieldProblem(number, "line", _MUST_BE_OBJECT, MALFORMED_LINE)
            continue
        item = dict(pairs)
        if len(item) != len(pairs):
            twice = _first_repeated([key for key, _value in pairs])
            yield number, FieldProblem(number, "line", f"has the key {twice[:64]!r} twice", MALFORMED_LINE)
            continue
        if any(name not in item for name in COLUMNS):
            yield number, FieldProblem(number, "line", _MUST_BE_OBJECT, MALFORMED_LINE)
            continue
        # A nested object in a value is a list of pairs here: not a string or number, so validation refuses it.
        values: list[Any] = [item[name] for name in COLUMNS]
        for position in (5, 7):  # quantity, amount: JSON integers are exact decimals too
            if isinstance(values[position], int) and not isinstance(values[position], bool):
                values[position] = Decimal(values[position])
        yield number, tuple(values)


def _first_repeated(keys: list[str]) -> str:
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            return key
        seen.add(key)
    raise AssertionError("no key repeats")
