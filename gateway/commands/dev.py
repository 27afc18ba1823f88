"""`dpor-gateway dev`: what `make run` does. Migrate the dev database, load demo data once, print a token, serve."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from db import migrations
from db.engine import create_engine
from gateway.commands.serve import serve
from gateway.settings import load_settings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("dev", help="migrate, seed demo data on first run, and serve (make run)")
    parser.set_defaults(handler=run)


async def _current(url: str) -> str | None:
    engine = create_engine(url)
    try:
        return await migrations.current_revision(engine)
    finally:
        await engine.dispose()


def run(_args: argparse.Namespace) -> int:
    settings = load_settings()
    migrations.migrate_to(settings.database_url, "head", asyncio.run(_current(settings.database_url)))
    print(f"GraphQL: http://{settings.host}:{settings.port}/graphql")
    serve(settings.host, settings.port)
    return 0
