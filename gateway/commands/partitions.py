"""`dpor-gateway partitions list | detach MONTH | attach MONTH`: the usage tables' month partitions on PostgreSQL.

Run as the migration owner (DPOR_MIGRATION_DATABASE_URL; the gateway's role may not change the schema). `detach`
archives a month: its usage leaves every read at once (records and both rollups), and the three tables stay in
the schema as `usage_*_pYYYY_MM`, to dump and drop or to `attach` back, which restores the month as it was. An
ingest into an archived month is refused (CONFLICT) until it is attached again. Exit status: 0 done, 1 refused
(the message says why), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import date
from typing import Any

from sqlalchemy.exc import DBAPIError

from db import partitions
from db.engine import create_engine
from gateway.settings import load_settings

# Detaching waits for the usage tables' ACCESS EXCLUSIVE lock; queued behind a long read, it would stall every
# request queued behind it. It gives up instead, to be run again.
LOCK_TIMEOUT = "5s"
LOCK_NOT_AVAILABLE = "55P03"


def _month(value: str) -> date:
    try:
        return partitions.parse_month(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("partitions", help="list, archive (detach) or restore (attach) usage months")
    actions = parser.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="every month partition of the usage tables, attached or archived")
    for action, text in (("detach", "archive a month: its usage leaves every read"), ("attach", "restore a month")):
        sub = actions.add_parser(action, help=text)
        sub.add_argument("month", type=_month, metavar="YYYY-MM")
    parser.set_defaults(handler=run)


async def _run(url: str, args: argparse.Namespace) -> list[str]:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            if args.action == "list":
                return [
                    f"{item.table:<24} {item.month:%Y-%m}  {'attached' if item.attached else 'archived'}"
                    f"  ~{max(item.rows, 0):,} rows"
                    for item in await partitions.list_months(connection)
                ]
            await connection.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
            if args.action == "detach":
                await partitions.detach(connection, args.month)
                return [f"{args.month:%Y-%m} detached (archived) from {', '.join(partitions.PARENTS)}"]
            await partitions.attach(connection, args.month)
            return [f"{args.month:%Y-%m} attached to {', '.join(partitions.PARENTS)}"]
    finally:
        await engine.dispose()


def run(args: argparse.Namespace) -> int:
    try:
        lines = asyncio.run(_run(load_settings().migrations_url, args))
    except partitions.PartitionError as error:
        print(f"dpor-gateway partitions: {error}", file=sys.stderr)
        return 1
    except DBAPIError as error:
        if getattr(error.orig, "sqlstate", None) != LOCK_NOT_AVAILABLE:
            raise
        print(
            f"dpor-gateway partitions: the usage tables stayed locked over {LOCK_TIMEOUT}; run it again",
            file=sys.stderr,
        )
        return 1
    print("\n".join(lines))
    return 0
