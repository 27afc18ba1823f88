"""One batch of a usage file: up to `size` checked lines, read in a worker thread, with the last line winning.

Apart from the writer (file_writes.py) because this half runs in a thread while the database writes the batch
before it: pure Python over text, no session. Within a batch a later line with the natural key (subscription,
usage date, meter id) of an earlier one takes its place; across batches the database's upsert does the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from resolvers.usage.file_formats import Inputs
from resolvers.usage.file_lines import CountingLines
from resolvers.usage.text_record import TextChecker, TextRecord
from resolvers.usage.validation import FieldProblem


@dataclass
class Batch:
    lines: list[int]  # the line of each record
    # The records as checked text; emptied once encoded into `payload` (PostgreSQL), which then stands for them:
    # a batch waiting for the database holds its COPY text, not a Python object per value.
    records: list[TextRecord]
    problems: list[FieldProblem]
    stop: bool = False  # end of file, or strict mode met a bad line
    subscriptions: set[str] = field(default_factory=set)  # the external ids the records name
    externals: list[str] = field(default_factory=list)  # the external id of each record, in order
    payload: bytes = b""  # the records as COPY input (PostgreSQL)
    # Lines a later line of the same natural key replaced within the batch: (subscription id, line).
    superseded: list[tuple[str, int]] = field(default_factory=list)
    bytes_done: int = 0  # bytes of the file up to the batch's last line
    # The usage dates the records hold (canonical YYYY-MM-DD text): the months to make partitions for, and the
    # earliest day, which tells the writer whether any record can replace a stored one, without asking SQL.
    days: set[str] = field(default_factory=set)


def collect(
    inputs: Inputs,
    lines: CountingLines,
    size: int,
    strict: bool,
    checker: TextChecker,
    encode: Callable[[list[TextRecord]], bytes] | None,
) -> Batch:
    """Read up to `size` valid lines (in a worker thread); stop early in strict mode at a bad line.

    A valid line whose natural key an earlier line of the batch has takes that line's place (last line wins;
    across batches the database's upsert does the same). `encode`, when given, turns the batch's records into
    the payload the writer sends (COPY input).
    """
    batch = Batch(lines=[], records=[], problems=[])
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
    batch.externals = [record[0] for record in batch.records]
    batch.days = {record[1] for record in batch.records}
    if encode is not None and not (strict and batch.problems):
        batch.payload = encode(batch.records)
        batch.records = []
    return batch
