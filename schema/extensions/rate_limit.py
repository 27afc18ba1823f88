"""Rate limiting per principal on cost points, and the `rateLimit` field that reports the caller's budget.

Runs after the cost estimate (cost.py) in `on_execute`, before execution: an operation whose cost the caller's
bucket cannot cover is refused with RATE_LIMITED and `extensions.retryAfter` (seconds); the HTTP response gets
`Retry-After` and status 429 (the view puts a batch back to 200 when only some of its operations were
refused).

The bucket key is the principal's subject and OAuth client (one budget per user per client); a caller without
a principal is keyed by its network address.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import strawberry
from strawberry.extensions import SchemaExtension

from resolvers.codes import Code
from resolvers.context import FastLaneHandover
from resolvers.rate_limiter import Decision, RateLimiter
from schema.extensions.cost import CostReport, current_report
from schema.extensions.errors import coded_error

logger = logging.getLogger("dpor.ratelimit")


def bucket_key(context: Any) -> str:
    principal = getattr(context, "principal", None)
    if principal is not None:
        return f"principal:{principal.subject}:{principal.client_id or '-'}"
    request = getattr(context, "request", None)
    client = getattr(request, "client", None)
    return f"anonymous:{client.host if client else 'unknown'}"


async def charge(limiter: RateLimiter, context: Any, report: CostReport) -> Decision:
    """Take the operation's cost from its caller's bucket and note the budget in the report; also called by the
    fast lane (schema/fast_lane.py), which hands its decision over when the full pipeline must finish the job."""
    try:
        decision = await limiter.consume(bucket_key(context), report.requested)
    except Exception as error:
        # The budget store is down: refuse (fail closed) rather than serve without limits, and say so.
        logger.exception("rate limiter unavailable", extra={"request_id": getattr(context, "request_id", None)})
        raise coded_error("The rate limiter is unavailable; retry shortly.", Code.INTERNAL) from error
    _note(report, decision)
    return decision


def _note(report: CostReport, decision: Decision) -> None:
    report.limit = decision.capacity
    report.remaining = math.floor(decision.remaining)
    report.reset_after_seconds = round(decision.reset_after, 3)


class RateLimit(SchemaExtension):
    async def on_execute(self) -> AsyncIterator[None]:
        report = current_report()
        context = self.execution_context.context
        # The application's limiter, put in the request context by the view: it lives and closes with the app,
        # while the schema, cached per configuration, may outlive one application.
        limiter: RateLimiter | None = getattr(context, "rate_limiter", None)
        if report is not None and limiter is not None:
            handover: FastLaneHandover | None = getattr(context, "handover", None)
            if handover is not None and handover.decision is not None:
                # The fast lane charged this very operation already: it is not charged twice.
                decision = handover.decision
                _note(report, decision)
            else:
                decision = await charge(limiter, context, report)
            if not decision.allowed:
                retry_after = max(1, math.ceil(decision.retry_after))
                report.throttled = True
                report.retry_after_seconds = retry_after
                response = getattr(context, "response", None)
                if response is not None:
                    response.headers["Retry-After"] = str(retry_after)
                    response.status_code = 429
                raise coded_error(
                    f"Rate limit exceeded: this operation costs {report.requested} points, "
                    f"{report.remaining} remain; retry in {retry_after} s.",
                    Code.RATE_LIMITED,
                    retryAfter=retry_after,
                    limit={"name": "rateLimitPoints", "value": decision.capacity},
                )
        yield


@strawberry.type(description="The caller's rate-limit budget, in cost points, after this operation.")
class RateLimitInfo:
    cost: int = strawberry.field(description="Estimated cost of this operation (see `extensions.cost`).")
    max_cost: int = strawberry.field(description="Largest cost a single operation may have.")
    limit: int | None = strawberry.field(description="Points the budget holds when full; null if unlimited.")
    remaining: int | None = strawberry.field(description="Points left after this operation; null if unlimited.")
    reset_at: datetime | None = strawberry.field(description="When the budget is full again; null if unlimited.")


def resolve_rate_limit() -> RateLimitInfo | None:
    report = current_report()
    if report is None:
        return None
    reset_at = (
        datetime.now(UTC) + timedelta(seconds=report.reset_after_seconds)
        if report.reset_after_seconds is not None
        else None
    )
    return RateLimitInfo(
        cost=report.requested,
        max_cost=report.maximum,
        limit=report.limit,
        remaining=report.remaining,
        reset_at=reset_at,
    )


# Mount on Query: `rate_limit: RateLimitInfo | None = rate_limit_field`.
rate_limit_field: Any = strawberry.field(
    resolver=resolve_rate_limit, description="The caller's rate-limit budget after this operation."
)
