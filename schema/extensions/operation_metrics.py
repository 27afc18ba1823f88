"""The Prometheus metrics the observability extension records for every GraphQL operation.

Defined beside the extension that records them; gateway/metrics.py serves the registry (with the HTTP and pool
metrics of its own) on /metrics and runs prometheus-client's multiprocess mode, which covers these too.

Operation names are chosen by callers, so they are bounded before becoming label values: at most
`MAX_OPERATION_NAMES` distinct names are tracked, later ones are counted as "other".
"""

from __future__ import annotations

import threading

from prometheus_client import Counter, Histogram

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
