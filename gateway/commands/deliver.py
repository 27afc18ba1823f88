"""`dpor-gateway deliver`: the webhook delivery worker on its own (what every `serve` worker runs in the background
unless DPOR_WEBHOOK_DELIVERY_INTERVAL_SECONDS=0), until interrupted; `--once` runs one pass and prints it."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from typing import Any

from db.engine import Database
from gateway import wiring
from gateway.background import in_background
from gateway.deliverer import deliver_every, sender_for
from gateway.settings import load_settings
from resolvers.webhooks.delivery import PassReport, deliver_once


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("deliver", help="deliver webhooks of change events (until interrupted)")
    parser.add_argument("--once", action="store_true", help="one pass: publish, attempt what is due, report")
    parser.set_defaults(handler=run)


async def _deliver(once: bool) -> PassReport | None:
    settings = load_settings()
    config = wiring.delivery_config(settings)
    database = Database.from_url(settings.database_url, pool_size=min(settings.db_pool_size, config.batch + 2))
    try:
        if once:
            sender = sender_for(config)
            try:
                return await deliver_once(database, sender, config)
            finally:
                await sender.aclose()
        async with in_background(wiring.change_listener(settings, database), "dpor-change-notifications"):
            await deliver_every(database, config, settings.webhook_delivery_interval_seconds or 1.0)
        return None
    finally:
        await database.dispose()


def run(args: argparse.Namespace) -> int:
    with contextlib.suppress(KeyboardInterrupt):
        report = asyncio.run(_deliver(args.once))
        if report is not None:
            print(f"events published: {report.published}")
            print(f"attempts: {report.attempted}, delivered: {report.delivered}")
    return 0
