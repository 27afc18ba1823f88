"""`dpor-gateway migrate`: bring the database schema to the migration head (or to `--to REV`)."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from db import migrations
from db.engine import create_engine
from gateway.settings import load_settings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("migrate", help="upgrade the database schema")
    parser.add_argument("--to", default="head", metavar="REV", help="target revision (default: head; 'base' empties)")
    parser.set_defaults(handler=run)


async def _current(url: str) -> str | None:
    engine = create_engine(url)
    try:
        return await migrations.current_revision(engine)
    finally:
        await engine.dispose()


def run(args: argparse.Namespace) -> int:
    url = load_settings().migrations_url
    migrations.migrate_to(url, args.to, asyncio.run(_current(url)))
    print(f"database at {args.to}")
    return 0
