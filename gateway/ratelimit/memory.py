"""The in-process token bucket: exact for one process, and the default (no infrastructure needed)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from gateway.ratelimit import Bucket
from resolvers.rate_limiter import Decision

# Buckets kept at most. Anonymous callers are keyed by address, so the number of keys is the caller's choice;
# the least recently used bucket is dropped first, and a dropped bucket has most likely refilled anyway.
MAX_BUCKETS = 100_000


class MemoryRateLimiter:
    def __init__(
        self, bucket: Bucket, *, clock: Callable[[], float] = time.monotonic, max_buckets: int = MAX_BUCKETS
    ) -> None:
        self.bucket = bucket
        self.clock = clock
        self.max_buckets = max_buckets
        # key -> (points, time of the last update)
        self.states: OrderedDict[str, tuple[float, float]] = OrderedDict()

    async def consume(self, key: str, cost: int) -> Decision:
        # No await between read and write: on one event loop this is atomic.
        now = self.clock()
        capacity, rate = self.bucket.capacity, self.bucket.refill_per_second
        points, updated = self.states.pop(key, (float(capacity), now))
        points = min(float(capacity), points + max(0.0, now - updated) * rate)
        allowed = cost <= points
        if allowed:
            points = min(float(capacity), points - cost)  # a negative cost gives points back, up to capacity
        self.states[key] = (points, now)
        if len(self.states) > self.max_buckets:
            self.states.popitem(last=False)
        return Decision(
            allowed=allowed,
            capacity=capacity,
            remaining=points,
            retry_after=0.0 if allowed else (cost - points) / rate,
            reset_after=(capacity - points) / rate,
        )

    async def close(self) -> None:
        """Nothing to release; the buckets stay valid (a cached schema may keep using this limiter)."""
