"""Prometheus metrics: operations by name and outcome, latency, rate-limit refusals, database pool use.

Operation names are chosen by callers, so they are bounded before becoming label values: at most
`MAX_OPERATION_NAMES` distinct names are tracked, later ones are counted as "other".

With several worker processes (`serve --workers N`) each counts in its own memory, and a scrape reached one of
them: `serve` then sets PROMETHEUS_MULTIPROC_DIR, every worker writes its values to files there
(prometheus-client's multiprocess mode), and /metrics adds up the files of all workers, live or gone (counters
keep what exited workers counted; the pool gauge sums live workers only: a worker marks itself dead on
shutdown).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from sqlalchemy.pool import QueuePool
from starlette.requests import Request
from starlette.responses import Response

from db.engine import Database

MAX_OPERATION_NAMES = 200
MAX_NAME_LENGTH = 64

OPERATIONS = Counter(
    "dpor_graphql_operations_total",
    "GraphQL operations by name and outcome (ok or an error code).",
    ["operation", "outcome"],
)
QUERY_PATHS = Counter(
    "dpor_graphql_query_executions_total",
    "Queries by the path that answered them: compiled (one SQL statement, resolvers/compiled/) or interpreted.",
    ["path"],
)
LATENCY = Histogram(
    "dpor_graphql_operation_duration_seconds",
    "Time to answer one GraphQL operation.",
    ["operation_type"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
RATE_LIMITED = Counter("dpor_rate_limit_rejections_total", "Operations refused by the rate limiter.")
HTTP_REFUSALS = Counter(
    "dpor_http_refusals_total",
    "Requests refused before GraphQL ran (size, content type, batch...).",
    ["code"],
)
POOL = Gauge(
    "dpor_db_pool_connections",
    "Database connection pool use (summed over live workers).",
    ["state"],
    multiprocess_mode="livesum",
)

MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir() -> Path | None:
    value = os.environ.get(MULTIPROCESS_DIR_VARIABLE)
    return Path(value) if value else None


def clear_multiprocess_dir() -> None:
    """Values a previous run left in the directory would be added to this run's (prometheus-client asks for an
    empty directory at start)."""
    directory = multiprocess_dir()
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink()


def mark_this_process_dead() -> None:
    """On a worker's shutdown: its live gauges stop counting (its counters are kept)."""
    if multiprocess_dir() is not None:
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


def _registry() -> CollectorRegistry:
    if multiprocess_dir() is None:
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


_names: set[str] = set()
_names_lock = threading.Lock()


def operation_label(name: str | None) -> str:
    if not name:
        return "anonymous"
    name = name[:MAX_NAME_LENGTH]
    with _names_lock:
        if name in _names:
            return name
        if len(_names) < MAX_OPERATION_NAMES:
            _names.add(name)
            return name
    return "other"


def observe_pool(database: Database) -> None:
    pool = database.engine.sync_engine.pool
    # SQLite runs on NullPool (no pooled connections to report); PostgreSQL on a QueuePool.
    if isinstance(pool, QueuePool):
        POOL.labels("size").set(pool.size())
        POOL.labels("checked_out").set(pool.checkedout())
        POOL.labels("overflow").set(max(0, pool.overflow()))


def metrics_endpoint(database: Database):  # type: ignore[no-untyped-def]
    async def metrics(_request: Request) -> Response:
        observe_pool(database)
        return Response(generate_latest(_registry()), media_type=CONTENT_TYPE_LATEST)

    return metrics
