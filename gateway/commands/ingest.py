"""`dpor-gateway ingest FILE`: import usage from a CSV or JSON Lines file, in batches, with a progress line.

The rules and the file format are those of resolvers/usage/file_import.py. Exit status: 0 when every line was
written, 1 when lines were rejected (or strict mode stopped), 2 when the file cannot be read at all.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from db.engine import Database
from gateway.settings import load_settings
from resolvers.usage.file_import import FileFormatError, ImportSummary, import_file

# Rejected lines listed in the summary; the rest are counted.
SHOWN_PROBLEMS = 50


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("ingest", help="import usage records from a CSV or JSON Lines file")
    parser.add_argument("file", type=Path, help="the file (.csv with a header row, or .jsonl)")
    parser.add_argument("--format", choices=("csv", "jsonl"), help="override the format the suffix implies")
    parser.add_argument("--strict", action="store_true", help="stop at the first bad line; write none of its batch")
    parser.add_argument("--batch-size", type=int, help="rows per transaction (default: 50000 PostgreSQL, 5000 SQLite)")
    parser.add_argument("--quiet", action="store_true", help="no progress line")
    parser.set_defaults(handler=run)


class ProgressLine:
    """A single rewritten stderr line: rows, rows per second, share of the file read. No dependency needed."""

    def __init__(self, total_bytes: int, stream: TextIO = sys.stderr) -> None:
        self.total_bytes = max(total_bytes, 1)
        self.stream = stream
        self.started = time.monotonic()
        self.rows = 0

    def __call__(self, rows: int, bytes_read: int) -> None:
        self.rows = rows
        elapsed = max(time.monotonic() - self.started, 1e-9)
        share = min(bytes_read / self.total_bytes, 1.0)
        self.stream.write(f"\r{rows:>12,} rows  {rows / elapsed:>10,.0f} rows/s  {share:>6.1%}")
        self.stream.flush()

    def finish(self) -> float:
        elapsed = time.monotonic() - self.started
        if self.rows:
            self.stream.write("\n")
        return elapsed


def render(summary: ImportSummary, elapsed: float) -> str:
    written = summary.inserted + summary.replaced
    lines = [
        f"inserted {summary.inserted:,}, replaced {summary.replaced:,}, rejected {summary.rejected:,} line(s)"
        f" in {elapsed:.2f} s ({written / max(elapsed, 1e-9):,.0f} rows/s written)"
    ]
    if summary.stopped_at is not None:
        lines.append(f"strict: stopped at line {summary.stopped_at}; nothing of its batch was written")
    for problem in summary.problems[:SHOWN_PROBLEMS]:
        lines.append(f"  line {problem.index}: {problem.field}: {problem.message}")
    hidden = summary.rejected - len({problem.index for problem in summary.problems[:SHOWN_PROBLEMS]})
    if hidden > 0:
        lines.append(f"  ... and {hidden:,} more rejected line(s)")
    return "\n".join(lines)


async def _ingest(args: argparse.Namespace) -> ImportSummary:
    settings = load_settings()
    database = Database.from_url(settings.database_url, pool_size=2)
    progress = None if args.quiet else ProgressLine(args.file.stat().st_size)
    try:
        return await import_file(
            database,
            args.file,
            file_format=args.format,
            strict=args.strict,
            batch_size=args.batch_size,
            progress=progress,
        )
    finally:
        if progress is not None:
            progress.finish()
        await database.dispose()


def run(args: argparse.Namespace) -> int:
    if not args.file.is_file():
        print(f"ingest: no such file: {args.file}", file=sys.stderr)
        return 2
    started = time.monotonic()
    try:
        summary = asyncio.run(_ingest(args))
    except FileFormatError as error:
        print(f"ingest: {error}", file=sys.stderr)
        return 2
    print(render(summary, time.monotonic() - started))
    return 0 if summary.rejected == 0 else 1
