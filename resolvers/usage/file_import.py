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

This module is the loop that ties the parts together, and the import's public face (`import_file`,
`ImportSummary`, `FileFormatError`, `COLUMNS`, what `dpor-gateway ingest` and the benchmark use). The parts, one
job each: file_lines.py (bytes to counted text lines), file_formats.py (CSV and JSON Lines to values),
file_batches.py (a batch of checked lines, in the worker thread), file_writes.py (a batch's transaction),
file_summary.py (what was inserted, replaced and rejected).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import date
from pathlib import Path

from db.engine import Database
from resolvers.usage import bulk
from resolvers.usage.file_batches import Batch, collect
from resolvers.usage.file_formats import COLUMNS, csv_inputs, detect_format, jsonl_inputs
from resolvers.usage.file_lines import CountingLines, FileFormatError
from resolvers.usage.file_summary import MAX_REPORTED_PROBLEMS, ImportSummary, Rejects
from resolvers.usage.file_writes import write_batch
from resolvers.usage.text_record import TextChecker
from resolvers.usage.validation import latest_usage_date

__all__ = [
    "COLUMNS",
    "MAX_REPORTED_PROBLEMS",
    "FileFormatError",
    "ImportSummary",
    "Progress",
    "Rejects",
    "import_file",
]

# Rows per transaction: big enough that per-statement overhead vanishes, small enough to bound memory. On
# PostgreSQL a batch's fixed costs grow with the subscriptions it names, not its rows (locking them, moving each
# one's freshness and monthly rollups: 0.59 s a batch of a daily feed of 10,000 subscriptions, measured), so a
# batch spans several days of such a feed; reading one holds about 1 KB a row in Python, the batch written
# meanwhile only its COPY text (file_batches.py): some 250 MB at most.
POSTGRES_BATCH = 200_000
SQLITE_BATCH = 5_000

Progress = Callable[[int, int], None]  # (rows written so far, bytes of the file read up to the last written line)


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
        lines = CountingLines(stream)
        inputs = csv_inputs(lines) if kind == "csv" else jsonl_inputs(lines)

        def read_next() -> asyncio.Future[Batch]:
            return asyncio.ensure_future(asyncio.to_thread(collect, inputs, lines, size, strict, checker, encode))

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
                if batch.externals and not await write_batch(database, batch, strict, summary, checker.latest):
                    break
                if progress is not None and (batch.externals or batch.problems):
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
