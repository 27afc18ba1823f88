"""One structured log line and the metrics for every operation, whatever its outcome.

The outermost extension: it times parsing, validation, the limits and execution together, and opens the
statement count (db/statement_counter.py) the operation's SQL adds to. An operation refused by an extension
(a limit, the rate limiter) ends in an exception rather than a result; both are seen here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from db import statement_counter
from resolvers.codes import Code
from schema.extensions import operation_metrics as metrics
from schema.extensions.cost import current_report
from schema.extensions.errors import code_of

logger = logging.getLogger("dpor.access")


class Observability(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        outcome = "ok"
        with statement_counter.counting() as count:
            try:
                yield
                result = self.execution_context.result
                if result is not None and result.errors:
                    outcome = code_of(result.errors[0]) or Code.INTERNAL.value
            except GraphQLError as error:
                outcome = code_of(error) or Code.INTERNAL.value
                raise
            except Exception:
                # Logged with its traceback by the schema's process_errors (schema/errors.py).
                outcome = Code.INTERNAL.value
                raise
            finally:
                self._record(time.perf_counter() - started, outcome, count.statements)

    def _record(self, duration: float, outcome: str, statements: int) -> None:
        context = self.execution_context
        try:
            operation_type = context.operation_type.value
        except Exception:  # no document (parse failed): there is no operation type to report
            operation_type = "unknown"
        name = context.operation_name if context.graphql_document is not None else None
        record(context.context, operation_type, name, duration, outcome, statements)


def record(context: Any, operation_type: str, name: str | None, duration: float, outcome: str, statements: int) -> None:
    """The metrics and the access log line of one operation (also called by the fast lane, schema/fast_lane.py,
    for the operations it answers without this extension)."""
    metrics.operations(metrics.operation_label(name), outcome).inc()
    metrics.latency(operation_type).observe(duration)
    path = getattr(context, "execution_path", None)
    if operation_type == "query" and outcome == "ok" and path is not None:
        metrics.query_paths(path).inc()
    if outcome == Code.RATE_LIMITED.value:
        metrics.RATE_LIMITED.inc()
    if not logger.isEnabledFor(logging.INFO):
        return  # what logger.info would decide, before the line's facts are gathered (the benchmark logs warnings)
    report = current_report()
    principal = getattr(context, "principal", None)
    logger.info(
        "graphql %s %s: %s in %.1f ms, %d SQL statements, cost %s",
        operation_type,
        name or "(anonymous)",
        outcome,
        duration * 1000,
        statements,
        report.requested if report is not None else "-",
        extra={
            "request_id": getattr(context, "request_id", None),
            "subject": getattr(principal, "subject", None),
            "client_id": getattr(principal, "client_id", None),
            "operation": name,
            "operation_type": operation_type,
            "outcome": outcome,
            "duration_ms": round(duration * 1000, 3),
            "sql_statements": statements,
            "cost": report.requested if report is not None else None,
            "execution": path,
        },
    )
