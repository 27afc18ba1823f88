"""`dpor-gateway`: one sub-command per module under gateway/commands."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from auth.config import AuthConfigError
from gateway.settings import SettingsError
from gateway.wiring import settings_error

# Each module defines `register(subparsers)`, which adds its parser and sets `handler`.
COMMANDS = ("dev", "serve", "migrate", "seed", "export_schema", "token", "ingest", "sweep", "deliver", "partitions")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dpor-gateway", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"gateway.commands.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except SettingsError as error:
        print(f"dpor-gateway: {error}", file=sys.stderr)
        return 2
    except AuthConfigError as error:  # e.g. the dev key `token` signs with is readable by others
        print(f"dpor-gateway: {settings_error(error)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
