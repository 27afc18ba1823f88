"""`dpor-gateway token`: mint dev tokens (defined by the auth work)."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("token", help="mint a dev access token")
    parser.set_defaults(handler=run)


def run(_args: argparse.Namespace) -> int:
    raise SystemExit("token: not built yet")
