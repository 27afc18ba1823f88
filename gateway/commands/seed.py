"""`dpor-gateway seed`: load the demo dataset, or a synthetic one of any size.

dpor-gateway seed --demo
dpor-gateway seed --tenants 2000 --subscriptions-per-tenant 5 --partners 500 --days 400
                  [--meters-per-day 3] [--seed 1] [--end-date 2026-11-21]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, date, datetime, timedelta
from typing import Any

from db.engine import Database
from gateway.seed.demo import load_demo
from gateway.seed.synthetic import LoadReport, NotEmptyError, SyntheticSpec, load_synthetic
from gateway.settings import load_settings

SIZE_OPTIONS = ("tenants", "subscriptions_per_tenant", "partners", "days")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "seed",
        help="load demo or synthetic data",
        description="Load the demo dataset (--demo), or a synthetic one sized by the options below.",
    )
    parser.add_argument("--demo", action="store_true", help="load the demo dataset (does nothing if present)")
    synthetic = parser.add_argument_group("synthetic data")
    synthetic.add_argument("--tenants", type=_positive, metavar="N")
    synthetic.add_argument("--subscriptions-per-tenant", type=_positive, metavar="M")
    synthetic.add_argument("--partners", type=_positive, metavar="P")
    synthetic.add_argument("--days", type=_positive, metavar="D", help="days of usage, ending at --end-date")
    synthetic.add_argument("--meters-per-day", type=_positive, default=3, metavar="K", help="(default: 3)")
    synthetic.add_argument("--seed", type=int, default=1, metavar="S", help="same seed, same rows (default 1)")
    synthetic.add_argument(
        "--end-date",
        type=date.fromisoformat,
        metavar="YYYY-MM-DD",
        help="last usage day (default: yesterday)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    given = [name for name in SIZE_OPTIONS if getattr(args, name) is not None]
    if args.demo == bool(given):
        missing = ", ".join("--" + name.replace("_", "-") for name in SIZE_OPTIONS)
        print(f"seed: give either --demo, or all of {missing}", file=sys.stderr)
        return 2
    url = load_settings().database_url
    if args.demo:
        return asyncio.run(_demo(url))
    if len(given) != len(SIZE_OPTIONS):
        missing = ", ".join("--" + name.replace("_", "-") for name in SIZE_OPTIONS if name not in given)
        print(f"seed: synthetic data also needs {missing}", file=sys.stderr)
        return 2
    try:
        spec = SyntheticSpec(
            tenants=args.tenants,
            subscriptions_per_tenant=args.subscriptions_per_tenant,
            partners=args.partners,
            days=args.days,
            meters_per_day=args.meters_per_day,
            seed=args.seed,
            end_date=args.end_date or datetime.now(UTC).date() - timedelta(days=1),
        )
    except ValueError as error:
        print(f"seed: {error}", file=sys.stderr)
        return 2
    return asyncio.run(_synthetic(url, spec))


async def _demo(url: str) -> int:
    database = Database.from_url(url)
    try:
        summary = await load_demo(database)
    finally:
        await database.dispose()
    if not summary.loaded:
        print("demo data already present: nothing to do")
        return 0
    print(f"demo data loaded (usage {summary.first_day} to {summary.last_day}):")
    for table, count in summary.rows.items():
        print(f"  {table:<30}  {count:>8,}")
    return 0


async def _synthetic(url: str, spec: SyntheticSpec) -> int:
    print(
        f"seeding {spec.tenants:,} tenants x {spec.subscriptions_per_tenant} subscriptions,"
        f" {spec.partners:,} partners, {spec.days} days to {spec.end_date} x {spec.meters_per_day} meters"
        f" ({spec.usage_rows():,} usage rows), seed {spec.seed}",
        flush=True,
    )
    database = Database.from_url(url)
    try:
        report = await load_synthetic(database, spec, progress=_progress)
    except NotEmptyError as error:
        print(f"seed: {error}", file=sys.stderr)
        return 1
    finally:
        await database.dispose()
    _print_report(report)
    return 0


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _print_report(report: LoadReport) -> None:
    for line in report.lines():
        print(line)
