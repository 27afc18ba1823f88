"""What the rate-limit extension asks of a limiter: take an operation's cost from its caller's budget.

The gateway builds the limiter (in process, or Redis: gateway/ratelimit/) and puts it in each request's context
(`RequestContext.rate_limiter`); the extension (schema/extensions/rate_limit.py) only sees this protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    capacity: int
    remaining: float
    # Seconds until the bucket holds enough for this cost (0 when allowed).
    retry_after: float
    # Seconds until the bucket is full again.
    reset_after: float


class RateLimiter(Protocol):
    async def consume(self, key: str, cost: int) -> Decision:
        """Take `cost` points from `key`'s bucket if it holds them (a negative cost gives points back, never
        above the bucket's capacity: resolvers/invitations/codes.py returns the point a good lookup held)."""
        ...

    async def close(self) -> None: ...
