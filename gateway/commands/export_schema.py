"""`dpor-gateway export-schema`: write the SDL the server serves to schema.graphql (committed, tested fresh)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from gateway.settings import PROJECT_ROOT

SCHEMA_FILE = PROJECT_ROOT / "schema.graphql"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("export-schema", help="write the GraphQL SDL to schema.graphql")
    parser.add_argument("--output", type=Path, default=SCHEMA_FILE, help="where to write (default: schema.graphql)")
    parser.set_defaults(handler=run)


def current_sdl() -> str:
    from schema.root import sdl

    return sdl()


def run(args: argparse.Namespace) -> int:
    args.output.write_text(current_sdl(), encoding="utf-8")
    print(f"wrote {args.output}")
    return 0
