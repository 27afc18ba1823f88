"""Importing a usage file (CSV with a header row, or JSON Lines) in batches, with constant memory.

Columns (CSV header names, JSON keys): subscription_id (the subscription's external id), usage_date,
service, meter_id, meter_name, quantity, unit, amount, currency. JSON numbers are read as exact decimals.

Each line passes the same checks as an API record (validation.py); within a batch a natural key appears once
(a later line with the same key is rejected), and across batches a later line replaces an earlier one, as a
re-sent API batch would. Each batch is one transaction. Non-strict: bad lines are skipped and reported, the
rest is written. Strict: the first bad line stops the import, and nothing of the batch it belongs to is
written (earlier batches stay committed).

Reading and validating the next batch runs in a worker thread while the database writes the current one, so
the Python work and the database work overlap. Lines are checked as text (text_record.py) and, on
PostgreSQL, the batch leaves the worker already encoded for COPY (bulk.py): no Python object per value.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import itertools
import json
import operator
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy.ext.asyncio import AsyncSession

from db.engine import Database
from resolvers.usage import bulk
from resolvers.usage.ingestion import KnownSubscription, resolve_subscriptions, write_records
from resolvers.usage.text_record import TextChecker, TextRecord
from resolvers.usage.validation import (
    SUBSCRIPTION_ID,
    FieldProblem,
    ValidRecord,
    latest_usage_date,
    validate_values,
)

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
# Rows per transaction: big enough that per-statement overhead vanishes, small enough to bound memory.
POSTGRES_BATCH = 50_000
SQLITE_BATCH = 5_000
# Bytes decoded at a time: one C-level decode per block instead of one per line.
READ_BLOCK = 1 << 20
# Rejected lines kept with their reasons; beyond this only the count grows (constant memory on bad files).
MAX_REPORTED_PROBLEMS = 1_000

Progress = Callable[[int, int], None]  # (lines read, bytes read)
# One line's values in COLUMNS order, as read (text, or JSON values).
Fields = tuple[Any, ...]


class FileFormatError(Exception):
    """The file cannot be read as the format it claims (e.g. a CSV header without the required columns)."""


@dataclass
class ImportSummary:
    inserted: int = 0
    replaced: int = 0
    rejected: int = 0
    problems: list[FieldProblem] = field(default_factory=list)
    # Strict mode: the line that stopped the import.
    stopped_at: int | None = None

    def reject(self, problems: list[FieldProblem]) -> None:
        self.rejected += len({problem.index for problem in problems})
        room = MAX_REPORTED_PROBLEMS - len(self.problems)
        self.problems.extend(problems[: max(room, 0)])


@dataclass
class _Batch:
    lines: list[int]  # the line of each record
    records: list[TextRecord]
    problems: list[FieldProblem]
    stop: bool = False  # end of file, or strict mode met a bad line
    subscriptions: set[str] = field(default_factory=set)  # the external ids the records name
    payload: bytes = b""  # the records as COPY input (PostgreSQL)


def detect_format(path: Path, declared: str | None) -> str:
    if declared:
        return declared
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    raise FileFormatError(f"cannot tell the format of {path.name}; use --format csv or --format jsonl")


class _CountingLines:
    """Text lines of a binary file, decoded a block at a time, counting bytes read (for the progress bar)."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.bytes_read = 0
        self._lines_before = 0

    def __iter__(self) -> Iterator[str]:
        # StringIO(newline="") splits lines as a file opened with newline="" does, the way the csv module
        # wants them: a quoted line break stays inside its field.
        return itertools.chain.from_iterable(io.StringIO(text, newline="") for text in self._texts())

    def _texts(self) -> Iterator[str]:
        for block in self._blocks():
            try:
                text = block.decode("utf-8")
            except UnicodeDecodeError as error:
                # Not a bad record but a broken file: stop (batches before this line stay written).
                number = self._lines_before + block.count(b"\n", 0, error.start) + 1
                raise FileFormatError(f"line {number} is not UTF-8") from None
            self._lines_before += block.count(b"\n")
            yield text

    def _blocks(self) -> Iterator[bytes]:
        """Blocks of whole lines (a UTF-8 character never spans a line break), the last one as it ends."""
        rest = b""
        while block := self.stream.read(READ_BLOCK):
            self.bytes_read += len(block)
            block = rest + block
            end = block.rfind(b"\n") + 1
            rest = block[end:]
            if end:
                yield block[:end]
        if rest:
            yield rest


def _csv_inputs(lines: _CountingLines) -> Iterator[tuple[int, Fields | FieldProblem]]:
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
                FieldProblem(reader.line_num, "line", f"has {len(row)} fields, not {width}"),
            )
            continue
        yield reader.line_num, pick(row)


_JSON = json.JSONDecoder(parse_float=Decimal)


def _jsonl_inputs(lines: _CountingLines) -> Iterator[tuple[int, Fields | FieldProblem]]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = _JSON.decode(line)
        except ValueError:
            yield number, FieldProblem(number, "line", "is not valid JSON")
            continue
        if not isinstance(item, dict) or any(name not in item for name in COLUMNS):
            yield number, FieldProblem(number, "line", f"must be an object with keys {', '.join(COLUMNS)}")
            continue
        values: list[Any] = [item[name] for name in COLUMNS]
        for position in (5, 7):  # quantity, amount: JSON integers are exact decimals too
            if isinstance(values[position], int) and not isinstance(values[position], bool):
                values[position] = Decimal(values[position])
        yield number, tuple(values)


def _collect(
    inputs: Iterator[tuple[int, Fields | FieldProblem]],
    size: int,
    strict: bool,
    checker: TextChecker,
    encode: Callable[[list[TextRecord]], bytes] | None,
) -> _Batch:
    """Read up to `size` valid lines (in a worker thread); stop early in strict mode at a bad line.

    `encode`, when given, turns the batch's records into the payload the writer sends (COPY input).
    """
    batch = _Batch(lines=[], records=[], problems=[])
    first_line_of_key: dict[tuple[str, str, str], int] = {}
    check = checker.check
    for line, item in inputs:
        result = check(line, item) if isinstance(item, tuple) else [item]
        if isinstance(result, tuple):
            # Dates are canonical text (YYYY-MM-DD), so equal days are equal strings.
            earlier = first_line_of_key.setdefault((result[0], result[1], result[3]), line)
            if earlier == line:
                batch.lines.append(line)
                batch.records.append(result)
                if len(batch.records) >= size:
                    break
                continue
            message = f"duplicates line {earlier} (same subscription, usage date and meter)"
            result = [FieldProblem(line, "meterId", message)]
        batch.problems.extend(result)
        if strict:
            batch.stop = True
            break
    else:
        batch.stop = True
    batch.subscriptions = {key[0] for key in first_line_of_key}
    if encode is not None and not (strict and batch.problems):
        batch.payload = encode(batch.records)
    return batch


class _StrictStop(Exception):
    """Raised inside a batch's transaction to roll it back."""


async def import_file(
    database: Database,
    path: Path,
    *,
    file_format: str | None = None,
    strict: bool = False,
    batch_size: int | None = None,
    progress: Progress | None = None,
    today: date | None = None,
) -> ImportSummary:
    """Import the file; return what was inserted, replaced and rejected (with line numbers)."""
    kind = detect_format(path, file_format)
    postgres = database.dialect == "postgresql"
    size = batch_size or (POSTGRES_BATCH if postgres else SQLITE_BATCH)
    checker = TextChecker(latest_usage_date(today))
    encode = bulk.copy_payload if postgres else None
    summary = ImportSummary()
    with path.open("rb") as stream:
        lines = _CountingLines(stream)
        inputs = _csv_inputs(lines) if kind == "csv" else _jsonl_inputs(lines)
        # A bad header raises FileFormatError from the first read, before anything is written.
        read = asyncio.ensure_future(asyncio.to_thread(_collect, inputs, size, strict, checker, encode))
        lines_read = 0
        try:
            while True:
                batch = await read
                if not batch.stop:
                    read = asyncio.ensure_future(asyncio.to_thread(_collect, inputs, size, strict, checker, encode))
                summary.reject(batch.problems)
                if strict and batch.problems:
                    summary.stopped_at = batch.problems[0].index
                    break
                if batch.records and not await _write(database, batch, strict, summary, checker.latest):
                    break
                lines_read += len(batch.records) + len({problem.index for problem in batch.problems})
                if progress is not None:
                    progress(lines_read, lines.bytes_read)
                if batch.stop:
                    break
        finally:
            # The read-ahead may still be reading the file: let it finish (at most one batch) before closing.
            with contextlib.suppress(Exception):
                await read
    summary.problems.sort(key=lambda problem: problem.index)
    return summary


async def _write(database: Database, batch: _Batch, strict: bool, summary: ImportSummary, latest: date) -> bool:
    """Write one batch in its own transaction; False when strict mode must stop (nothing of it written)."""
    try:
        async with database.write() as session:
            known = await resolve_subscriptions(session, batch.subscriptions)
            if len(known) < len(batch.subscriptions):
                unknown = [
                    FieldProblem(line, SUBSCRIPTION_ID, "no such subscription")
                    for line, record in zip(batch.lines, batch.records, strict=True)
                    if record[0] not in known
                ]
                summary.reject(unknown)
                if strict:
                    summary.stopped_at = unknown[0].index
                    raise _StrictStop
            if batch.payload:
                written, replaced = await bulk.copy_text(session, batch.payload)
            else:
                written, replaced = await _write_records(session, batch.records, known, latest)
            summary.inserted += written - replaced
            summary.replaced += replaced
    except _StrictStop:
        return False
    return True


async def _write_records(
    session: AsyncSession, records: Iterable[TextRecord], known: Mapping[str, KnownSubscription], latest: date
) -> tuple[int, int]:
    """The API's write path (SQLite): the checked text records as ValidRecords again, then write_records."""
    valid = [
        result
        for record in records
        if record[0] in known and isinstance(result := validate_values(0, *record, latest=latest), ValidRecord)
    ]
    if not valid:
        return 0, 0
    written = await write_records(session, valid, known)
    return written.inserted + written.replaced, written.replaced
