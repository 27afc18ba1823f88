"""Prometheus metrics: the /metrics endpoint, HTTP refusals, database pool use and read replicas (db/replicas.py).

The per-operation metrics (operations by name and outcome, latency, the answering path, rate-limit refusals) are
recorded by the observability extension and defined beside it (schema/extensions/operation_metrics.py); they live
in the same registry, so /metrics serves them all.

With several worker processes (`serve --workers N`) each counts in its own memory, and a scrape reached one of
them: `serve` then sets PROMETHEUS_MULTIPROC_DIR, every worker writes its values to files there
(prometheus-client's multiprocess mode), and /metrics adds up the files of all workers, live or gone (counters
keep what exited workers counted; the pool gauge sums live workers only: a worker marks itself dead on
shutdown).
"""

from __future__ import annotations

import os
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
    multiprocess,
)
from sqlalchemy.pool import QueuePool
from starlette.requests import Request
from starlette.responses import Response

from db.engine import Database

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

READ_ROUTES = Counter(
    "dpor_db_read_routes_total",
    "Where requests' reads went with read replicas configured: replica, or primary and why "
    "(primary_pinned, primary_mutation, primary_no_replica, primary_failover).",
    ["route"],
)
# Per replica, named replica-N in the order of DPOR_DATABASE_READ_URLS. Over several workers: the worst one's view.
REPLICA_UP = Gauge(
    "dpor_db_replica_up",
    "1 when the last health check found the replica up and within the lag bound, else 0.",
    ["replica"],
    multiprocess_mode="livemin",
)
REPLICA_LAG = Gauge(
    "dpor_db_replica_lag_seconds",
    "How far the replica's replay was behind the primary at its last check (-1: unknown, e.g. unreachable).",
    ["replica"],
    multiprocess_mode="livemax",
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


def observe_pool(database: Database) -> None:
    pool = database.engine.sync_engine.pool
    # SQLite runs on NullPool (no pooled connections to report); PostgreSQL on a QueuePool.
    if isinstance(pool, QueuePool):
        POOL.labels("size").set(pool.size())
        POOL.labels("checked_out").set(pool.checkedout())
        POOL.labels("overflow").set(max(0, pool.overflow()))


def observe_replicas(database: Database) -> None:
    if database.replicas is None:
        return
    for replica in database.replicas.members:
        REPLICA_UP.labels(replica.name).set(1 if replica.state == "up" else 0)
        REPLICA_LAG.labels(replica.name).set(-1 if replica.lag_seconds is None else replica.lag_seconds)


def metrics_endpoint(database: Database):  # type: ignore[no-untyped-def]
    async def metrics(_request: Request) -> Response:
        observe_pool(database)
        observe_replicas(database)
        return Response(generate_latest(_registry()), media_type=CONTENT_TYPE_LATEST)

    return metrics
