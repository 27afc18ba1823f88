"""`dpor-gateway sweep`: apply once what time made due (resolvers/sweep.py), e.g. from a scheduler when
DPOR_SWEEP_INTERVAL_SECONDS=0 keeps `serve` from sweeping."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from db.engine import Database
from gateway import wiring
from gateway.settings import load_settings
from resolvers.sweep import SweepReport, sweep


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "sweep",
        help="end expired delegated admin relationships and their admin links; ripen undeclined claims;"
        " create the usage partitions ahead",
    )
    parser.set_defaults(handler=run)


async def _sweep() -> SweepReport:
    settings = load_settings()
    database = Database.from_url(settings.database_url, pool_size=2)
    try:
        return await sweep(database, keep_events=wiring.change_event_retention(settings))
    finally:
        await database.dispose()


def run(args: argparse.Namespace) -> int:
    report = asyncio.run(_sweep())
    print(f"expired delegated admin relationships ended: {report.expired_relationships}")
    print(f"claims ripened (decline window passed): {report.ripened_claims}")
    print(f"usage partitions created ahead: {report.partitions_created}")
    print(f"webhook deliveries pruned (past retention): {report.pruned_deliveries}")
    print(f"change events pruned (past retention): {report.pruned_events}")
    return 0
