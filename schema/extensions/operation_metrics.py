"""The Prometheus metrics the observability extension records for every GraphQL operation.

Defined beside the extension that records them; gateway/metrics.py serves the registry (with the HTTP and pool
metrics of its own) on /metrics and runs prometheus-client's multiprocess mode, which covers these too.

Operation names are chosen by callers, so they are bounded before becoming label values: at most
`MAX_OPERATION_NAMES` distinct names are tracked, later ones are counted as "other".
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

from prometheus_client import Counter, Histogram
from prometheus_client.metrics import MetricWrapperBase

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
    if name in _names:  # names are never dropped: a tracked one needs no lock (most calls)
        return name
    with _names_lock:
        if name in _names:
            return name
        if len(_names) < MAX_OPERATION_NAMES:
            _names.add(name)
            return name
    return "other"


_Metric = TypeVar("_Metric", bound=MetricWrapperBase)


class Children(Generic[_Metric]):
    """A labelled metric's children by their label values, kept once looked up: prometheus-client's `labels()`
    checks and converts the values and takes a lock at every call, a measurable share of a fast-lane request
    (bench/results/2026-12-07-fast-lane-cpu.md). The same child either way (the metric keeps its children; none is
    ever removed here), so what is counted does not change. At most `bound` kept; beyond, looked up each time."""

    def __init__(self, metric: _Metric, bound: int = 4096) -> None:
        self._metric = metric
        self._bound = bound
        self._children: dict[tuple[str, ...], _Metric] = {}

    def __call__(self, *values: str) -> _Metric:
        child = self._children.get(values)
        if child is None:
            child = self._metric.labels(*values)
            if len(self._children) < self._bound:
                self._children[values] = child
        return child


operations = Children(OPERATIONS)
latency = Children(LATENCY)
query_paths = Children(QUERY_PATHS)
