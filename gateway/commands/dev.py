"""`dpor-gateway dev`: what `make run` does. Migrate the dev database, load demo data once, print tokens, serve."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from auth.dev_keys import mint_dev_token
from auth.principal import Role
from db import migrations
from db.engine import Database
from gateway.commands.serve import serve
from gateway.seed.demo import (
    DEMO_DELEGATED_PARTNER_MPN_ID,
    DEMO_OWNER_TENANT_EXTERNAL_ID,
    DEMO_PARTNER_MPN_ID,
    demo_present,
    load_demo,
)
from gateway.settings import Settings, load_settings
from gateway.wiring import auth_config

EXAMPLE_QUERY = "{ viewer { subject roles tenant { displayName } } subscriptions(first: 3) { totalCount } }"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("dev", help="migrate, seed demo data on first run, print dev tokens, and serve")
    parser.add_argument("--no-serve", action="store_true", help="prepare the database and print tokens only")
    parser.set_defaults(handler=run)


async def _prepare(settings: Settings) -> None:
    database = Database.from_url(settings.database_url)
    try:
        current = await migrations.current_revision(database.engine)
        # Alembic's env runs its own event loop: give it a thread of its own.
        await asyncio.to_thread(migrations.migrate_to, settings.migrations_url, "head", current)
        if await demo_present(database):
            print("demo data: present")
        else:
            summary = await load_demo(database)
            counts = ", ".join(f"{table} {count}" for table, count in summary.rows.items())
            print(f"demo data: loaded ({counts}; usage {summary.first_day} to {summary.last_day})")
    finally:
        await database.dispose()


def _print_tokens(settings: Settings) -> None:
    url = f"http://{settings.host}:{settings.port}/graphql"
    owner = mint_dev_token(
        auth_config(settings),
        roles=[Role.OWNER],
        tenant=DEMO_OWNER_TENANT_EXTERNAL_ID,
        subject="demo-owner",
        ttl=12 * 3600,
    )
    print()
    print(f"GraphQL endpoint: {url}  (GraphiQL in a browser; send the token as 'Authorization: Bearer ...')")
    print(f"Demo tenant (Contoso) external id: {DEMO_OWNER_TENANT_EXTERNAL_ID}")
    print(f"Demo partners: DPOR {DEMO_PARTNER_MPN_ID}, delegated admin {DEMO_DELEGATED_PARTNER_MPN_ID}")
    print("Other roles: .venv/bin/dpor-gateway token --role partner --partner " + DEMO_PARTNER_MPN_ID)
    print("             .venv/bin/dpor-gateway token --role platform-admin")
    print("Try it:")
    print(f"  curl -s {url} -H 'content-type: application/json' -H \"authorization: Bearer $TOKEN\" \\")
    print(f'       -d \'{{"query": "{EXAMPLE_QUERY}"}}\'')
    print("with TOKEN set to the demo owner's token (valid 12 hours), on the next line:")
    print(owner)
    print(flush=True)


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    asyncio.run(_prepare(settings))
    _print_tokens(settings)
    if not args.no_serve:
        serve(settings.host, settings.port, settings)
    return 0
