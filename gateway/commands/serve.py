"""`dpor-gateway serve`: run the ASGI server."""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn

from gateway.settings import load_settings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("serve", help="serve the GraphQL API")
    parser.add_argument("--host", help="interface to bind (default: DPOR_HOST)")
    parser.add_argument("--port", type=int, help="port (default: DPOR_PORT)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes")
    parser.add_argument("--reload", action="store_true", help="restart on code changes (development)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings()  # fail here, in one line, before uvicorn starts workers
    serve(args.host or settings.host, args.port or settings.port, workers=args.workers, reload=args.reload)
    return 0


def serve(host: str, port: int, *, workers: int = 1, reload: bool = False) -> None:
    uvicorn.run(
        "gateway.app:create_served_app",
        factory=True,
        host=host,
        port=port,
        workers=None if reload else workers,
        reload=reload,
        log_level="info",
        access_log=False,
        proxy_headers=False,
    )
