"""`dpor-gateway serve`: run the ASGI server.

Everything the application would refuse at start-up is checked here first, in this process, so a bad setting
stops the command with one line naming it (gateway/cli.py) instead of a traceback from each uvicorn worker.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import tempfile
from typing import Any

import uvicorn
from sqlalchemy.exc import SQLAlchemyError

from db import connection_role, pool_budget
from gateway import metrics
from gateway.app import create_app
from gateway.http_protocol import IMPORT_PATH as HTTP_PROTOCOL
from gateway.settings import Settings, SettingsError, load_settings

logger = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("serve", help="serve the GraphQL API")
    parser.add_argument("--host", help="interface to bind (default: DPOR_HOST)")
    parser.add_argument("--port", type=int, help="port (default: DPOR_PORT)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes")
    parser.add_argument("--reload", action="store_true", help="restart on code changes (development)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings()  # fail here, in one line, before uvicorn starts workers
    workers = 1 if args.reload else max(1, args.workers)
    check_rate_limit_scope(settings, workers)
    create_app(settings)  # what the app refuses (key source, manifests...), refused here
    asyncio.run(warn_if_the_pool_exceeds_the_server(settings, workers))
    asyncio.run(refuse_a_privileged_database_role(settings))
    serve(args.host or settings.host, args.port or settings.port, settings, workers=workers, reload=args.reload)
    return 0


def check_rate_limit_scope(settings: Settings, workers: int) -> None:
    """Without Redis each worker keeps its own buckets: N workers grant every caller N budgets."""
    if workers == 1 or not settings.rate_limit_enabled or settings.redis_url or settings.rate_limit_per_process:
        return
    problem = (
        f"with --workers {workers} and no DPOR_REDIS_URL every rate-limit budget is multiplied by {workers} "
        "(each worker keeps its own buckets)"
    )
    if settings.is_production:
        raise SettingsError(
            f"missing setting DPOR_REDIS_URL: {problem}; set it, or DPOR_RATE_LIMIT_PER_PROCESS=true to accept this"
        )
    logger.warning("WARNING: %s; set DPOR_REDIS_URL (production refuses to start like this)", problem)


async def warn_if_the_pool_exceeds_the_server(settings: Settings, workers: int) -> None:
    budget = await pool_budget.check(settings.database_url, pool_size=settings.db_pool_size, processes=workers)
    if budget is not None and not budget.fits:
        logger.warning("WARNING: %s", budget.describe())


async def refuse_a_privileged_database_role(settings: Settings) -> None:
    """Production serves only as a least-privileged role (db/connection_role.py); development warns. A database
    that cannot be reached now is left to the readiness probe, which checks the role again."""
    try:
        role = await connection_role.connection_role(settings.database_url)
    except (OSError, SQLAlchemyError) as error:
        logger.warning("could not read the database role's privileges: %s", type(error).__name__)
        return
    problem = role.problem if role is not None else None
    if problem is None:
        return
    if settings.is_production:
        raise SettingsError(f"DPOR_DATABASE_URL: {problem}")
    logger.warning("WARNING: %s (production refuses to start like this)", problem)


def serve(host: str, port: int, settings: Settings, *, workers: int = 1, reload: bool = False) -> None:
    if workers > 1:
        # Every worker writes its metrics to files here and /metrics adds them all up (gateway/metrics.py).
        # Set before the workers start: prometheus_client picks its storage when a process imports it.
        os.environ.setdefault(metrics.MULTIPROCESS_DIR_VARIABLE, tempfile.mkdtemp(prefix="dpor-gateway-metrics-"))
        metrics.clear_multiprocess_dir()
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
        http=HTTP_PROTOCOL,
        timeout_keep_alive=settings.http_keep_alive_seconds,
    )
