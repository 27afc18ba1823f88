"""Importing a usage file (CSV with a header row, or JSON Lines) in batches, with constant memory.

Columns (CSV header names, JSON keys): subscription_id (the subscription's external id), usage_date,
service, meter_id, meter_name, quantity, unit, amount, currency. JSON numbers are read as exact decimals. A
UTF-8 byte-order mark at the start (what spreadsheet exports write) is skipped.

Each line passes the same checks as an API record (validation.py, with the grammar of resolvers/grammar.py);
a line naming a subscription that does not exist or is DELETED is rejected. Within a file the last line
wins: a later line with the natural key (subscription, usage date, meter id) of an earlier one replaces it
and counts as replaced, wherever the batch boundaries fall, on every backend (the earlier line is then
written or not: the result is the same). A line that is rejected replaces nothing. A malformed line (wrong
field count, not JSON, a JSON object nested too deep or with a key twice) is a rejected line too; only an
unreadable file (bad header, not UTF-8) stops the import.

Each batch is one transaction. Non-strict: bad lines are skipped and reported, the rest is written. Strict:
the first bad line stops the import, and nothing of the batch it belongs to is written (earlier batches stay
committed).

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
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
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
    MALFORMED_LINE,
    FieldProblem,
    ValidRecord,
    latest_usage_date,
    subscription_problem,
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
# Every one of them still reaches the `rejects` callback (the CLI's --rejects file).
MAX_REPORTED_PROBLEMS = 1_000

Progress = Callable[[int, int], None]  # (rows written so far, bytes of the file read up to the last written line)
Rejects = Callable[[Sequence[FieldProblem]], None]  # every rejected line's problems, as they are found
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
    sink: Rejects | None = field(default=None, repr=False)

    def reject(self, problems: Sequence[FieldProblem]) -> None:
        self.rejected += len({problem.index for problem in problems})
        room = MAX_REPORTED_PROBLEMS - len(self.problems)
        self.problems.extend(problems[: max(room, 0)])
        if self.sink is not None and problems:
            self.sink(problems)


@dataclass
class _Batch:
    lines: list[int]  # the line of each record
    records: list[TextRecord]
    problems: list[FieldProblem]
    stop: bool = False  # end of file, or strict mode met a bad line
    subscriptions: set[str] = field(default_factory=set)  # the external ids the records name
    payload: bytes = b""  # the records as COPY input (PostgreSQL)
    # Lines a later line of the same natural key replaced within the batch: (subscription id, line).
    superseded: list[tuple[str, int]] = field(default_factory=list)
    bytes_done: int = 0  # bytes of the file up to the batch's last line


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
    """Text lines of a binary file, decoded a block at a time, knowing how many bytes the lines taken so far
    span (for the progress line): the block's bytes before it, plus the share of the current block read."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self._lines_before = 0
        self._bytes_before = 0  # bytes of the blocks before the current one
        self._current: io.StringIO | None = None
        self._current_bytes = 0
        self._current_chars = 1

    def __iter__(self) -> Iterator[str]:
        # StringIO(newline="") splits lines as a file opened with newline="" does, the way the csv module
        # wants them: a quoted line break stays inside its field.
        return itertools.chain.from_iterable(self._texts())

    def bytes_consumed(self) -> int:
        """Bytes of the file up to the last line taken (exact for ASCII, proportional within a block)."""
        if self._current is None:
            return self._bytes_before
        return self._bytes_before + self._current.tell() * self._current_bytes // self._current_chars

    def _texts(self) -> Iterator[io.StringIO]:
        # "utf-8-sig" on the first block: a byte-order mark there is skipped, not read into the first field.
        encoding = "utf-8-sig"
        for block in self._blocks():
            try:
                text = block.decode(encoding)
            except UnicodeDecodeError as error:
                # Not a bad record but a broken file: stop (batches before this line stay written).
                number = self._lines_before + block.count(b"\n", 0, error.start) + 1
                raise FileFormatError(f"line {number} is not UTF-8") from None
            encoding = "utf-8"
            self._lines_before += block.count(b"\n")
            self._bytes_before += self._current_bytes
            self._current_bytes, self._current_chars = len(block), max(len(text), 1)
            self._current = io.StringIO(text, newline="")
            yield self._current
        self._bytes_before += self._current_bytes
        self._current, self._current_bytes = None, 0

    def _blocks(self) -> Iterator[bytes]:
        """Blocks of whole lines (a UTF-8 character never spans a line break), the last one as it ends."""
        rest = b""
        while block := self.stream.read(READ_BLOCK):
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
                FieldProblem(reader.line_num, "line", f"has {len(row)} fields, not {width}", MALFORMED_LINE),
            )
            continue
        yield reader.line_num, pick(row)


# Objects decode to their list of (key, value) pairs, by the C-level `list`: a key written twice stays visible
# (a dict would silently keep the last value, and which one the sender meant is unknowable). A Python hook
# building the dict per object cost about a quarter of the JSON Lines read rate.
_JSON = json.JSONDecoder(parse_float=Decimal, object_pairs_hook=list)
_MUST_BE_OBJECT = f"must be an object with keys {', '.join(COLUMNS)}"


def _jsonl_inputs(lines: _CountingLines) -> Iterator[tuple[int, Fields | FieldProblem]]:
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


def _collect(
    inputs: Iterator[tuple[int, Fields | FieldProblem]],
    lines: _CountingLines,
    size: int,
    strict: bool,
    checker: TextChecker,
    encode: Callable[[list[TextRecord]], bytes] | None,
) -> _Batch:
    """Read up to `size` valid lines (in a worker thread); stop early in strict mode at a bad line.

    A valid line whose natural key an earlier line of the batch has takes that line's place (last line wins;
    across batches the database's upsert does the same). `encode`, when given, turns the batch's records into
    the payload the writer sends (COPY input).
    """
    batch = _Batch(lines=[], records=[], problems=[])
    position_of_key: dict[tuple[str, str, str], int] = {}
    check = checker.check
    for line, item in inputs:
        result = check(line, item) if isinstance(item, tuple) else [item]
        if isinstance(result, tuple):
            # Dates are canonical text (YYYY-MM-DD), so equal days are equal strings.
            key = (result[0], result[1], result[3])
            position = position_of_key.setdefault(key, len(batch.records))
            if position == len(batch.records):
                batch.lines.append(line)
                batch.records.append(result)
            else:
                batch.superseded.append((result[0], batch.lines[position]))
                batch.lines[position] = line
                batch.records[position] = result
            # Superseded lines are kept (their numbers), so they bound the batch too: constant memory.
            if len(batch.records) >= size or len(batch.superseded) >= size:
                break
            continue
        batch.problems.extend(result)
        if strict:
            batch.stop = True
            break
    else:
        batch.stop = True
    batch.bytes_done = lines.bytes_consumed()
    batch.subscriptions = {key[0] for key in position_of_key}
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
    rejects: Rejects | None = None,
    today: date | None = None,
) -> ImportSummary:
    """Import the file; return what was inserted, replaced and rejected (with line numbers).

    `rejects`, when given, receives every rejected line's problems as they are found (the summary keeps
    only the first MAX_REPORTED_PROBLEMS); `progress` is called after every written batch.
    """
    kind = detect_format(path, file_format)
    postgres = database.dialect == "postgresql"
    size = batch_size or (POSTGRES_BATCH if postgres else SQLITE_BATCH)
    checker = TextChecker(latest_usage_date(today))
    encode = bulk.copy_payload if postgres else None
    summary = ImportSummary(sink=rejects)
    with path.open("rb") as stream:
        lines = _CountingLines(stream)
        inputs = _csv_inputs(lines) if kind == "csv" else _jsonl_inputs(lines)

        def read_next() -> asyncio.Future[_Batch]:
            return asyncio.ensure_future(asyncio.to_thread(_collect, inputs, lines, size, strict, checker, encode))

        # A bad header raises FileFormatError from the first read, before anything is written.
        read = read_next()
        try:
            while True:
                batch = await read
                if not batch.stop:
                    read = read_next()
                summary.reject(batch.problems)
                if strict and batch.problems:
                    summary.stopped_at = batch.problems[0].index
                    break
                if batch.records and not await _write(database, batch, strict, summary, checker.latest):
                    break
                if progress is not None and (batch.records or batch.problems):
                    # Rows written against the bytes up to this batch's last line, not the read-ahead's.
                    progress(summary.inserted + summary.replaced, batch.bytes_done)
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
            writable = {external for external, subscription in known.items() if not subscription.deleted}
            payload = batch.payload
            superseded = batch.superseded
            if len(writable) < len(batch.subscriptions):
                lines = [
                    *zip(batch.lines, (record[0] for record in batch.records), strict=True),
                    *((line, external) for external, line in superseded),
                ]
                refused = sorted(
                    (
                        problem
                        for line, external in lines
                        if (problem := subscription_problem(line, known.get(external)))
                    ),
                    key=lambda problem: problem.index,
                )
                summary.reject(refused)
                if strict:
                    summary.stopped_at = refused[0].index
                    raise _StrictStop
                superseded = [(external, line) for external, line in superseded if external in writable]
                if payload and len(known) > len(writable):
                    # COPY's joins leave out unknown subscriptions, not deleted ones: re-encode without them.
                    payload = bulk.copy_payload([record for record in batch.records if record[0] in writable])
            if batch.payload:  # PostgreSQL
                written, replaced = await bulk.copy_text(session, payload) if payload else (0, 0)
            else:
                written, replaced = await _write_records(session, batch.records, known, latest)
            summary.inserted += written - replaced
            summary.replaced += replaced + len(superseded)
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
        if (subscription := known.get(record[0])) is not None
        and not subscription.deleted
        and isinstance(result := validate_values(0, *record, latest=latest), ValidRecord)
    ]
    if not valid:
        return 0, 0
    written = await write_records(session, valid, known)
    return written.inserted + written.replaced, written.replaced
