"""`dpor-gateway seed`: load the demo dataset, or a synthetic one of any size."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("seed", help="load demo or synthetic data")
    parser.set_defaults(handler=run)


def run(_args: argparse.Namespace) -> int:
    raise SystemExit("seed: not built yet")
