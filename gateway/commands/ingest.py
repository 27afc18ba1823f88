"""`dpor-gateway ingest FILE`: import usage from a CSV or JSON Lines file, in batches, with a progress line.

The rules and the file format are those of resolvers/usage/file_import.py. Exit status: 0 when every line was
written, 1 when lines were rejected (or strict mode stopped), 2 when the file cannot be read at all.

The summary lists the first SHOWN_PROBLEMS rejected lines; `--rejects FILE` writes every one of them as CSV
(line, field, code, reason), one row per problem, in the order they were found.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from db.engine import Database
from gateway.settings import load_settings
from resolvers.errors import Conflict
from resolvers.usage.file_import import FileFormatError, ImportSummary, import_file
from resolvers.usage.validation import FieldProblem

# Rejected lines listed in the summary; the rest are counted.
SHOWN_PROBLEMS = 50


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("ingest", help="import usage records from a CSV or JSON Lines file")
    parser.add_argument("file", type=Path, help="the file (.csv with a header row, or .jsonl)")
    parser.add_argument("--format", choices=("csv", "jsonl"), help="override the format the suffix implies")
    parser.add_argument("--strict", action="store_true", help="stop at the first bad line; write none of its batch")
    parser.add_argument("--batch-size", type=int, help="rows per transaction (default: 50000 PostgreSQL, 5000 SQLite)")
    parser.add_argument("--quiet", action="store_true", help="no progress line")
    parser.add_argument(
        "--rejects", type=Path, metavar="FILE", help="write every rejected line (line, field, code, reason) as CSV"
    )
    parser.set_defaults(handler=run)


class ProgressLine:
    """A single rewritten stderr line: rows written, rows per second, and the share of the file up to the last
    written line (not the bytes the read-ahead has taken). No dependency needed."""

    def __init__(self, total_bytes: int, stream: TextIO = sys.stderr) -> None:
        self.total_bytes = max(total_bytes, 1)
        self.stream = stream
        self.started = time.monotonic()
        self.rows = 0

    def __call__(self, rows: int, bytes_done: int) -> None:
        self.rows = rows
        elapsed = max(time.monotonic() - self.started, 1e-9)
        share = min(bytes_done / self.total_bytes, 1.0)
        self.stream.write(f"\r{rows:>12,} rows written  {rows / elapsed:>10,.0f} rows/s  {share:>6.1%}")
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
        lines.append(f"  ... and {hidden:,} more rejected line(s) (--rejects FILE lists every one)")
    return "\n".join(lines)


class RejectsFile:
    """The --rejects CSV: a header, then one row per problem of every rejected line."""

    HEADER = ("line", "field", "code", "reason")

    def __init__(self, stream: TextIO) -> None:
        self._writer = csv.writer(stream, lineterminator="\n")
        self._writer.writerow(self.HEADER)

    def __call__(self, problems: Sequence[FieldProblem]) -> None:
        self._writer.writerows((problem.index, problem.field, problem.code, problem.message) for problem in problems)


async def _ingest(args: argparse.Namespace) -> ImportSummary:
    settings = load_settings()
    database = Database.from_url(settings.database_url, pool_size=2)
    progress = None if args.quiet else ProgressLine(args.file.stat().st_size)
    with contextlib.ExitStack() as stack:
        rejects = None
        if args.rejects is not None:
            rejects = RejectsFile(stack.enter_context(args.rejects.open("w", encoding="utf-8", newline="")))
        try:
            return await import_file(
                database,
                args.file,
                file_format=args.format,
                strict=args.strict,
                batch_size=args.batch_size,
                progress=progress,
                rejects=rejects,
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
    except (FileFormatError, OSError) as error:
        # OSError: the file vanished or the --rejects file cannot be written.
        print(f"ingest: {error}", file=sys.stderr)
        return 2
    except Conflict as error:
        # A batch for an archived usage month (dpor-gateway partitions attach restores it): that batch wrote
        # nothing; the batches before it are committed, as when strict mode stops.
        print(f"ingest: stopped: {error.message}", file=sys.stderr)
        return 1
    print(render(summary, time.monotonic() - started))
    return 0 if summary.rejected == 0 else 1
